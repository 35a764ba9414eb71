#!/bin/sh
# Registers cxflow's custom search attributes on the Temporal namespace; safe to run on every `docker compose up`.
set -eu

namespace="${TEMPORAL_NAMESPACE:-default}"

# auto-setup registers the namespace in the background after the frontend answers, and the
# server's namespace cache lags behind that: listing the attributes succeeds once both are done.
until temporal operator search-attribute list --namespace "$namespace" >/dev/null 2>&1; do
  echo "waiting for namespace $namespace"
  sleep 2
done

# Name and type must match workflows/contracts.py; the worker registers the same set on start.
for attribute in CxWorkflowId:Keyword CxWorkflowVersion:Int CxContactId:Keyword CxTrigger:Keyword CxOrganization:Keyword; do
  name="${attribute%%:*}"
  type="${attribute#*:}"
  # Servers differ on an attribute that already exists (success or "already exists"), and some
  # accept a create for an existing name of another type, so the listing decides, not the exit code.
  temporal operator search-attribute create --namespace "$namespace" --name "$name" --type "$type" >/dev/null 2>&1 || true
  if temporal operator search-attribute list --namespace "$namespace" | grep -Eq "^[[:space:]]*$name[[:space:]]+$type[[:space:]]*$"; then
    echo "search attribute $name ($type) is registered"
  else
    echo "search attribute $name is missing or not of type $type on namespace $namespace" >&2
    exit 1
  fi
done
