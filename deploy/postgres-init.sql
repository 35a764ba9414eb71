-- Creates Temporal's two databases and one database per cxflow service. PostgreSQL runs this only
-- when it initialises an empty data volume, so adding a database later needs a manual CREATE DATABASE.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
CREATE DATABASE cxflow_directory;
CREATE DATABASE cxflow_ingestion;
CREATE DATABASE cxflow_notification;
