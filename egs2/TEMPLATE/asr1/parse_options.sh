#!/usr/bin/env bash
# Sourced by a script: turns leading "--name value" / "--name=value" arguments into shell
# variables that the script already defines (like Kaldi's utils/parse_options.sh), and leaves
# the positional arguments in "$@". "--help" prints $help_message and every option with its
# default: the script's name=value lines above the line that sources this file. Dashes in names
# are read as underscores.
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            echo "${help_message:-}"; echo; echo "Options (default):"
            awk '/parse_options\.sh/ { exit } /^[a-z_]+=/ && !/^help_message=/' "$0" | sed -E 's/^([a-z_]+)=("[^"]*"|[^ ]*) *(# *)?(.*)$/  --\1 (\2) \4/'
            exit 0 ;;
        --*=*) _name=${1%%=*}; _value=${1#*=}; shift ;;
        --*) [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 2; }
             _name=$1; _value=$2; shift 2 ;;
        *) break ;;  # positional arguments are left in "$@" for the caller
    esac
    _name=${_name#--}; _name=${_name//-/_}
    if ! declare -p "${_name}" > /dev/null 2>&1 || [[ ! "${_name}" =~ ^[a-z_]+$ ]]; then
        echo "$0: unknown option --${_name} (see --help)" >&2; exit 2
    fi
    printf -v "${_name}" '%s' "${_value}"
done
unset _name _value
