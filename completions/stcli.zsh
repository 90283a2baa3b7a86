#compdef stcli
# zsh completion for stcli. Generated from the command tree by
# `python -m stcli.completions --write completions/`; do not edit by hand.
# Install: copy it as _stcli into a folder on $fpath, or source it after compinit.

_stcli() {
    local curcontext=$curcontext state line
    _arguments -C \
        --debug'[Show tracebacks for errors]' \
        --version'[Print the version and exit]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:command:->command' '*::argument:->argument'
    case $state in
        command)
            local -a commands=(
                'classify:Classify videos: top-k action labels per video, by the official test protocol'
                'weights:List, locate, download and import checkpoint files'
            )
            _describe -t commands 'stcli command' commands ;;
        argument)
            case $words[1] in
                classify) _stcli_classify ;;
                weights) _stcli_weights ;;
            esac ;;
    esac
}

_stcli_classify() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors)]:checkpoint:_files' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --views'[Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3)]:views: ' \
        --fast'[1 clip, short side 256, centre crop 224 (validation setting)]' \
        '(--top-k -k)'{--top-k,-k}'[Labels per video]:top-k: ' \
        '(--format -f)'{--format,-f}'[table, json, jsonl or csv]:format:(table json jsonl csv)' \
        '(--out -o)'{--out,-o}'[Write results to FILE (.csv, .json or .jsonl)]:out:_files' \
        --report-dir'[Also write one JSON report per video into DIR]:report-dir:_files -/' \
        --batch-size'[Views per network call]:batch-size: ' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:paths:_files'
}

_stcli_weights() {
    local curcontext=$curcontext state line
    _arguments -C \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:command:->command' '*::argument:->argument'
    case $state in
        command)
            local -a commands=(
                'download:Download a preset'"'"'s checkpoint into the cache, verify it and record its sha256'
                'import:Check a checkpoint you obtained yourself against a preset and copy it into the cache'
                'list:Show every preset, its checkpoint file and where (if anywhere) it is stored'
                'path:Print the path of a preset'"'"'s checkpoint (exit 1 if it is not stored yet)'
            )
            _describe -t commands 'stcli weights command' commands ;;
        argument)
            case $words[1] in
                download) _stcli_weights_download ;;
                import) _stcli_weights_import ;;
                list) _stcli_weights_list ;;
                path) _stcli_weights_path ;;
            esac ;;
    esac
}

_stcli_weights_download() {
    _arguments \
        --force'[Download again even if cached]' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:preset:(hmdb51 k400 k600)'
}

_stcli_weights_import() {
    _arguments \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:preset:(hmdb51 k400 k600)' \
        2:file:_files
}

_stcli_weights_list() {
    _arguments \
        '(--format -f)'{--format,-f}'[table or json]:format:(table json)' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_weights_path() {
    _arguments \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:preset:(hmdb51 k400 k600)'
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _stcli "$@"
else
    compdef _stcli stcli
fi
