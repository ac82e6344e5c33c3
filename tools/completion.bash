# SPDX-License-Identifier: MIT
# bash completion for cdmplace(1): commands, each command's options, config files after -c
# and for check, traces for report and suggest, and after run's options the program and its
# own arguments (completed as a command line of their own).
# The program's command line from word N on: bash-completion's own where it is loaded.
_cdmplace_program()
{
    if declare -F _command_offset >/dev/null; then
        _command_offset "$1"
    elif ((COMP_CWORD == $1)); then
        COMPREPLY=($(compgen -c -- "${COMP_WORDS[COMP_CWORD]}"))
    else
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    fi
}

_cdmplace()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local command="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -*) ;;
        *) command=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [[ -z $command ]]; then
        COMPREPLY=($(compgen -W "run check topo report suggest --help --version" -- "$cur"))
        return
    fi
    case $command in
    run)
        # After `--` or the first operand past run's options: the program's command line.
        local j arg
        for ((j = i + 1; j < COMP_CWORD; j++)); do
            arg=${COMP_WORDS[j]}
            case $arg in
            -c | --config | --log | --report | --rule | -o | --option) ((j++)) ;;
            --) _cdmplace_program $((j + 1)); return ;;
            -*) ;;
            *) _cdmplace_program $j; return ;;
            esac
        done
        case $prev in
        -c | --config) COMPREPLY=($(compgen -f -X '!*.conf' -- "$cur") $(compgen -d -- "$cur")); return ;;
        --log) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --report) COMPREPLY=($(compgen -W "stderr off" -- "$cur") $(compgen -f -- "$cur")); return ;;
        --rule) COMPREPLY=($(compgen -W "size= caller= kind= program= policy= migrate= on_full= budget= idle= hot_set= name=" -- "$cur")); return ;;
        -o | --option) COMPREPLY=($(compgen -W "min_size= track= epoch= log= report= dry_run= strict=" -- "$cur")); return ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --config --rule -o --option --dry-run --log --report --help --" -- "$cur"))
        else
            COMPREPLY=($(compgen -c -- "$cur"))
        fi
        ;;
    check)
        [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ||
            COMPREPLY=($(compgen -f -X '!*.conf' -- "$cur") $(compgen -d -- "$cur"))
        ;;
    report | suggest)
        case $prev in
        --svg | --perfetto) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --top | --rule | --pid | --rank) return ;; # a number or a rule's name: nothing to offer
        esac
        if [[ $cur == -* ]]; then
            local options="--help"
            [[ $command == report ]] &&
                options="--json --folded --top --rule --pid --rank --svg --perfetto --diff --help"
            COMPREPLY=($(compgen -W "$options" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -X '!*.jsonl*' -- "$cur") $(compgen -d -- "$cur"))
        fi
        ;;
    topo) COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
    esac
}
complete -F _cdmplace cdmplace
