#!/usr/bin/env bash
# The GitHub Action's command step (action.yml): turns its inputs, handed over as environment
# variables, into one marketer command. test/git/workflow.test.ts runs this same script with the
# same variables, so what CI checks is what a campaigns repository runs.
set -euo pipefail

marketer() { node "${MARKETER_BIN:?}" "$@"; }

if [[ -n "${INPUT_DATABASE_URL:-}" ]]; then
  # Masked even when someone passes it as plain text instead of a secret.
  echo "::add-mask::${INPUT_DATABASE_URL}"
  export DATABASE_URL="$INPUT_DATABASE_URL"
fi
if [[ -n "${INPUT_AWS_REGION:-}" ]]; then export AWS_REGION="$INPUT_AWS_REGION"; fi

# Campaign paths: split on spaces and new lines, globs expanded (** too); a glob that matches
# nothing stays as written, so marketer reports it instead of quietly taking every campaign.
shopt -s globstar
campaigns=()
# shellcheck disable=SC2206 # splitting and globbing are wanted here
if [[ -n "${INPUT_CAMPAIGNS:-}" ]]; then campaigns=(${INPUT_CAMPAIGNS}); fi

# Extra options: split on spaces, no globbing, no shell.
extra=()
if [[ -n "${INPUT_ARGS:-}" ]]; then read -r -a extra <<< "${INPUT_ARGS}"; fi

base="${INPUT_CHANGED_SINCE:-}"
if [[ -z "$base" ]]; then
  case "${EVENT_NAME:-}" in
    pull_request|pull_request_target) base="${EVENT_PR_BASE_SHA:-}" ;;
    push) base="${EVENT_BEFORE_SHA:-}" ;;
  esac
fi
changed=()
if [[ -n "$base" && "$base" != all ]]; then changed=(--changed-since "$base"); fi

# apply: the base for the first run (or after a force push); otherwise the recorded commit wins
# and marketer says the option was ignored. A push passes its `before`; a schedule passes none.
since="${INPUT_SINCE:-}"
if [[ -z "$since" && "${EVENT_NAME:-}" == push ]]; then since="${EVENT_BEFORE_SHA:-}"; fi
since_opt=()
if [[ -n "$since" ]]; then since_opt=(--since "$since"); fi

ephemeral=()
if [[ "${INPUT_ALLOW_EPHEMERAL_DB:-false}" == true ]]; then ephemeral=(--allow-ephemeral-db); fi

case "${INPUT_COMMAND:-}" in
  validate)
    marketer validate "${campaigns[@]}" "${changed[@]}" "${extra[@]}"
    ;;
  plan)
    preview=()
    if [[ -n "${INPUT_PREVIEW_DIR:-}" ]]; then preview=(--preview-dir "$INPUT_PREVIEW_DIR"); fi
    marketer plan "${campaigns[@]}" "${changed[@]}" "${preview[@]}" "${extra[@]}"
    ;;
  apply)
    marketer apply "${since_opt[@]}" "${ephemeral[@]}" "${extra[@]}"
    ;;
  send)
    marketer send "${campaigns[@]}" "${changed[@]}" "${ephemeral[@]}" "${extra[@]}"
    ;;
  dispatch)
    marketer dispatch "${ephemeral[@]}" "${extra[@]}"
    ;;
  events-pull)
    queue=()
    if [[ -n "${INPUT_QUEUE_URL:-}" ]]; then queue=(--queue-url "$INPUT_QUEUE_URL"); fi
    marketer events pull "${queue[@]}" "${ephemeral[@]}" "${extra[@]}"
    ;;
  *)
    echo "::error::marketer action: unknown command \"${INPUT_COMMAND:-}\"; use validate, plan, apply, send, dispatch or events-pull"
    exit 2
    ;;
esac
