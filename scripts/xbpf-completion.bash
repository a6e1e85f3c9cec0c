# Bash completion for xbpf. Load it with
#     source scripts/xbpf-completion.bash
# (or copy it to /etc/bash_completion.d/ or ~/.local/share/bash-completion/completions/xbpf).
#
# The work is done by xbpf itself (`xbpf __complete CWORD WORDS...`), so the
# candidates always match the binary: its commands, verbs and options, bpftool's
# keywords, and the ids, pins and names in the store. It prints one candidate a
# line; exit status 0 with nothing printed means a file name goes here, which
# is left to bash.

_xbpf() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local out
    COMPREPLY=()
    out=$("${COMP_WORDS[0]}" __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null)
    local rc=$?
    if [[ -n $out ]]; then
        mapfile -t COMPREPLY <<< "$out"  # already filtered by the current word
    elif [[ $rc -eq 0 ]]; then
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

complete -F _xbpf xbpf
