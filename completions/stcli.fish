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
            case 'stcli/classify' 'stcli/evaluate' 'stcli/localize' 'stcli/weights' 'stcli evaluate/localization' 'stcli weights/download' 'stcli weights/import' 'stcli weights/list' 'stcli weights/path'
                set node "$node $tokens[1]"
                set count 0
            case 'stcli classify/--preset' 'stcli classify/-p' 'stcli classify/--checkpoint' 'stcli classify/-c' 'stcli classify/--device' 'stcli classify/--views' 'stcli classify/--top-k' 'stcli classify/-k' 'stcli classify/--format' 'stcli classify/-f' 'stcli classify/--out' 'stcli classify/-o' 'stcli classify/--report-dir' 'stcli classify/--batch-size' 'stcli evaluate localization/--gt' 'stcli evaluate localization/--pred' 'stcli evaluate localization/--subset' 'stcli evaluate localization/--tiou' 'stcli evaluate localization/--format' 'stcli evaluate localization/-f' 'stcli evaluate localization/--out' 'stcli evaluate localization/-o' 'stcli localize/--preset' 'stcli localize/-p' 'stcli localize/--checkpoint' 'stcli localize/-c' 'stcli localize/--device' 'stcli localize/--windows' 'stcli localize/--overlap' 'stcli localize/--stride-s' 'stcli localize/--classes' 'stcli localize/--label-map' 'stcli localize/--min-score' 'stcli localize/--smooth' 'stcli localize/--nms' 'stcli localize/--nms-iou' 'stcli localize/--sigma' 'stcli localize/--max-segments' 'stcli localize/--format' 'stcli localize/-f' 'stcli localize/--out' 'stcli localize/-o' 'stcli localize/--report-dir' 'stcli localize/--scores-out' 'stcli localize/--scores-format' 'stcli localize/--plot' 'stcli localize/--batch-size' 'stcli weights list/--format' 'stcli weights list/-f'
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
complete -c stcli -n '__stcli_at "stcli"' -a 'evaluate' -d 'Score stcli outputs against ground truth (mAP)'
complete -c stcli -n '__stcli_at "stcli"' -a 'localize' -d 'Find action segments (label, start, end, score) in long videos with sliding windows'
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
complete -c stcli -n '__stcli_at "stcli evaluate"' -a 'localization' -d 'AP per class and mAP at each tIoU threshold, as ActivityNet\'s evaluator computes it'
complete -c stcli -n '__stcli_at "stcli evaluate"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l gt -r -F -d 'Ground truth: ActivityNet/ActionFormer/OpenTAD JSON, or the THUMOS14 folder of <Class>_val.txt / <Class>_test.txt files'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l pred -r -F -d 'Predictions: the .json or .csv file \'stcli localize\' wrote'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l subset -x -a 'test validation' -d 'Keep only ground-truth videos of this subset (test, validation)'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l tiou -x -d 'tIoU thresholds, comma-separated'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l format -s f -x -a 'table json csv' -d 'table, json or csv'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l out -s o -r -F -d 'Write the report to FILE (.json or .csv)'
complete -c stcli -n '__stcli_at "stcli evaluate localization"' -l help -s h -d 'Show this message and exit'
complete -c stcli -n '__stcli_at "stcli localize" 0+' -F -d 'Videos, folders (searched recursively), globs, or \'-\' to read paths from stdin'
complete -c stcli -n '__stcli_at "stcli localize"' -l preset -s p -x -a 'hmdb51 k400 k600' -d 'Model preset (see \'stcli weights list\')'
complete -c stcli -n '__stcli_at "stcli localize"' -l checkpoint -s c -r -F -d 'Checkpoint file to use instead of the preset\'s cached or downloaded weights (.pth, .pt or .safetensors)'
complete -c stcli -n '__stcli_at "stcli localize"' -l device -x -a 'auto cpu cuda' -d 'auto (CUDA when present), cpu or cuda'
complete -c stcli -n '__stcli_at "stcli localize"' -l windows -x -d 'Window lengths in frames, comma-separated; each window is one 16-frame clip spread over it (64 = every 4th frame, as the checkpoints were trained; S-CNN used 16,32,64,128,256,512)'
complete -c stcli -n '__stcli_at "stcli localize"' -l overlap -x -d 'Overlap of consecutive windows of one length, in [0, 1)'
complete -c stcli -n '__stcli_at "stcli localize"' -l stride-s -x -d 'Window stride in seconds (instead of --overlap)'
complete -c stcli -n '__stcli_at "stcli localize"' -l classes -x -d 'Only these classes: names or ids, comma-separated'
complete -c stcli -n '__stcli_at "stcli localize"' -l label-map -r -F -d 'CSV source_class,target_label: fold checkpoint classes into your labels (probabilities summed)'
complete -c stcli -n '__stcli_at "stcli localize"' -l min-score -x -d 'Windows scoring at least this become candidate segments'
complete -c stcli -n '__stcli_at "stcli localize"' -l smooth -x -d 'Moving average over N windows of the score curve'
complete -c stcli -n '__stcli_at "stcli localize"' -l nms -x -a 'soft hard none' -d 'soft, hard or none'
complete -c stcli -n '__stcli_at "stcli localize"' -l nms-iou -x -d 'tIoU above which hard NMS suppresses'
complete -c stcli -n '__stcli_at "stcli localize"' -l sigma -x -d 'Soft-NMS sigma'
complete -c stcli -n '__stcli_at "stcli localize"' -l max-segments -x -d 'Segments kept per video'
complete -c stcli -n '__stcli_at "stcli localize"' -l format -s f -x -a 'table json jsonl csv' -d 'table, json, jsonl or csv'
complete -c stcli -n '__stcli_at "stcli localize"' -l out -s o -r -F -d 'Write results to FILE (.csv, .json or .jsonl)'
complete -c stcli -n '__stcli_at "stcli localize"' -l report-dir -x -a '(__fish_complete_directories)' -d 'Also write one JSON report per video into DIR'
complete -c stcli -n '__stcli_at "stcli localize"' -l skip-existing -d 'With --report-dir: reuse the reports of videos already done (resumes an interrupted batch)'
complete -c stcli -n '__stcli_at "stcli localize"' -l scores-out -x -a '(__fish_complete_directories)' -d 'Save each video\'s window scores into DIR (to re-threshold without running the model again)'
complete -c stcli -n '__stcli_at "stcli localize"' -l scores-format -x -a 'csv npz' -d 'csv or npz, for --scores-out'
complete -c stcli -n '__stcli_at "stcli localize"' -l plot -x -a '(__fish_complete_directories)' -d 'Write a PNG timeline per video into DIR (needs matplotlib: pip install \'stcli[plot]\')'
complete -c stcli -n '__stcli_at "stcli localize"' -l batch-size -x -d 'Windows per network call'
complete -c stcli -n '__stcli_at "stcli localize"' -l quiet -s q -d 'No progress bar or summary'
complete -c stcli -n '__stcli_at "stcli localize"' -l help -s h -d 'Show this message and exit'
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
