# shellcheck shell=bash
# Sourced by scripts/local-stack. ensure_venv REPO: make REPO/.venv hold scripts/requirements.txt.
# pip runs only when the venv is new or the requirements (or the python) changed since the
# last successful install, recorded as a hash in the venv, so re-runs cost nothing.

ensure_venv() {
  local repo=$1
  local venv="$repo/.venv"
  local requirements="$repo/scripts/requirements.txt"
  local stamp="$venv/.cdn-onboard-requirements.sha256"

  if ! command -v python3 >/dev/null 2>&1; then
    echo "local-stack: python3 is missing; install Python 3.9+ (with venv) and retry" >&2
    return 1
  fi
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "local-stack: creating $venv" >&2
    if ! python3 -m venv "$venv" >&2; then
      echo "local-stack: 'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
      return 1
    fi
  fi

  local wanted
  wanted=$( { cat "$requirements"; "$venv/bin/python" --version; } | sha256sum | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi

  echo "local-stack: installing $requirements into $venv" >&2
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$requirements" >&2; then
    echo "local-stack: pip install -r $requirements failed (network, or a pin that no longer resolves); see above" >&2
    return 1
  fi
  echo "$wanted" >"$stamp"
}
