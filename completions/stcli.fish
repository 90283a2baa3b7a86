# fish completion for stcli. Generated from the command tree by
# `python -m stcli.completions --write completions/`; do not edit by hand.
# Install: copy it to ~/.config/fish/completions/stcli.fish.

function __stcli_at --description 'True in command NODE (at positional N, or N+: N or later)'
    set -l node stcli
    set -l count 0
    set -l tokens (commandline -opc)
    set -e tokens[1]
    while set -q tokens[1]
        switch "$node/$tokens[1]"
            case 'stcli/classify' 'stcli/weights' 'stcli weights/download' 'stcli weights/import' 'stcli weights/list' 'stcli weights/path'
                set node "$node $tokens[1]"
                set count 0
            case 'stcli classify/--preset' 'stcli classify/-p' 'stcli classify/--checkpoint' 'stcli classify/-c' 'stcli classify/--device' 'stcli classify/--views' 'stcli classify/--top-k' 'stcli classify/-k' 'stcli classify/--format' 'stcli classify/-f' 'stcli classify/--out' 'stcli classify/-o' 'stcli classify/--report-dir' 'stcli classify/--batch-size' 'stcli weights list/--format' 'stcli weights list/-f'
                set -q tokens[2]; and set -e tokens[2]
            case '*/-*'
            case '*'
                set count (math $count + 1)
        end
        set -e tokens[1]
    end
    test "$node" = "$argv[1]"; or return 1
    switch "$argv[2]"
        case ''
            return 0
        case '*+'
            test $count -ge (string trim -r -c + -- $argv[2])
        case '*'
            test $count -eq $argv[2]
    end
end

complete -c stcli -f
complete -c stcli -n '__stcli_at "stcli"' -a 'classify' -d 'Classify videos: top-k action labels per video, by the official test protocol'
complete -c stcli -n '__stcli_at "stcli"' -a 'weights' -d 'List, locate, download and import checkpoint files'
complete -c stcli -n '__stcli_at "stcli"' -l debug -d 'Show tracebacks for errors'
complete -c stcli -n '__stcli_at "stcli"' -l version -d 'Print the version and exit'
complete -c stcli -n '__stcli_at "stcli"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli classify" 0+' -F -d 'Videos, folders (searched recursively), globs, or \'-\' to read paths from stdin'
complete -c stcli -n '__stcli_at "stcli classify"' -l preset -s p -x -a 'hmdb51 k400 k600' -d 'Model preset (see \'stcli weights list\')'
complete -c stcli -n '__stcli_at "stcli classify"' -l checkpoint -s c -r -F -d 'Checkpoint file to use instead of the preset\'s cached or downloaded weights (.pth, .pt or .safetensors)'
complete -c stcli -n '__stcli_at "stcli classify"' -l device -x -a 'auto cpu cuda' -d 'auto (CUDA when present), cpu or cuda'
complete -c stcli -n '__stcli_at "stcli classify"' -l views -x -d 'Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3)'
complete -c stcli -n '__stcli_at "stcli classify"' -l fast -d '1 clip, short side 256, centre crop 224 (validation setting)'
complete -c stcli -n '__stcli_at "stcli classify"' -l top-k -s k -x -d 'Labels per video'
complete -c stcli -n '__stcli_at "stcli classify"' -l format -s f -x -a 'table json jsonl csv' -d 'table, json, jsonl or csv'
complete -c stcli -n '__stcli_at "stcli classify"' -l out -s o -r -F -d 'Write results to FILE (.csv, .json or .jsonl)'
complete -c stcli -n '__stcli_at "stcli classify"' -l report-dir -x -a '(__fish_complete_directories)' -d 'Also write one JSON report per video into DIR'
complete -c stcli -n '__stcli_at "stcli classify"' -l batch-size -x -d 'Views per network call'
complete -c stcli -n '__stcli_at "stcli classify"' -l quiet -s q -d 'No progress bar or summary'
complete -c stcli -n '__stcli_at "stcli classify"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli weights"' -a 'download' -d 'Download a preset\'s checkpoint into the cache, verify it and record its sha256'
complete -c stcli -n '__stcli_at "stcli weights"' -a 'import' -d 'Check a checkpoint you obtained yourself against a preset and copy it into the cache'
complete -c stcli -n '__stcli_at "stcli weights"' -a 'list' -d 'Show every preset, its checkpoint file and where (if anywhere) it is stored'
complete -c stcli -n '__stcli_at "stcli weights"' -a 'path' -d 'Print the path of a preset\'s checkpoint (exit 1 if it is not stored yet)'
complete -c stcli -n '__stcli_at "stcli weights"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli weights download" 0' -a 'hmdb51 k400 k600' -d 'Preset name'
complete -c stcli -n '__stcli_at "stcli weights download"' -l force -d 'Download again even if cached'
complete -c stcli -n '__stcli_at "stcli weights download"' -l quiet -s q -d 'No progress bar or summary'
complete -c stcli -n '__stcli_at "stcli weights download"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli weights import" 0' -a 'hmdb51 k400 k600' -d 'Preset name'
complete -c stcli -n '__stcli_at "stcli weights import" 1' -F -d 'Checkpoint file to copy into the cache'
complete -c stcli -n '__stcli_at "stcli weights import"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli weights list"' -l format -s f -x -a 'table json' -d 'table or json'
complete -c stcli -n '__stcli_at "stcli weights list"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli weights path" 0' -a 'hmdb51 k400 k600' -d 'Preset name'
complete -c stcli -n '__stcli_at "stcli weights path"' -l help -s h -d 'Show this message and exit'
