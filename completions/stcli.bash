# bash completion for stcli. Generated from the command tree by
# `python -m stcli.completions --write completions/`; do not edit by hand.
# Install: source it from ~/.bashrc, or copy it to
# ~/.local/share/bash-completion/completions/stcli (bash >= 4).

_stcli_subcommands() {
    case $1 in
        stcli) echo 'bench classify detect evaluate export features localize merge train-head watch weights' ;;
        'stcli evaluate') echo 'ava classification localization' ;;
        'stcli weights') echo 'download import list path prune' ;;
    esac
}

_stcli_options() {
    case $1 in
        stcli) echo '--debug --version --help -h' ;;
        'stcli bench') echo '--preset -p --checkpoint -c --video --batch-size --repeats --views --int8 --no-int8 --e2e --no-e2e --torch-variants --device --format -f --out -o --quiet -q --help -h' ;;
        'stcli classify') echo '--preset -p --checkpoint -c --head --device --backend --precision --batch-size --views --fast --top-k -k --force --format -f --out -o --report-dir --skip-existing --shard --shards --start --end --executor --ray-address --workers --threads-per-worker --quiet -q --help -h' ;;
        'stcli detect') echo '--preset -p --checkpoint -c --device --backend --precision --batch-size --proposals --detector --person-detector --person-threshold --keyframe-interval --timestamps --time-offset --action-threshold --all-scores --render --top --format -f --out -o --report-dir --skip-existing --shard --shards --start --end --executor --ray-address --workers --threads-per-worker --quiet -q --help -h' ;;
        'stcli evaluate') echo '--help -h' ;;
        'stcli evaluate ava') echo '--gt --pred --exclude --labels --iou --protocol --plot --format -f --out -o --help -h' ;;
        'stcli evaluate classification') echo '--gt --pred --format -f --out -o --confusion --help -h' ;;
        'stcli evaluate localization') echo '--gt --pred --subset --tiou --ignore-unknown-videos --plot --format -f --out -o --help -h' ;;
        'stcli export') echo '--out -o --preset -p --checkpoint -c --quantize --calibrate --calibration-clips --format -f --quiet -q --help -h' ;;
        'stcli features') echo '--preset -p --checkpoint -c --device --backend --precision --batch-size --out -o --stride --fps --dtype --format -f --report-dir --skip-existing --shard --shards --start --end --executor --ray-address --workers --threads-per-worker --quiet -q --help -h' ;;
        'stcli localize') echo '--preset -p --checkpoint -c --head --device --backend --precision --batch-size --windows --overlap --stride-s --classes --label-map --min-score --smooth --nms --nms-iou --sigma --max-segments --format -f --out -o --report-dir --skip-existing --shard --shards --start --end --executor --ray-address --workers --threads-per-worker --quiet -q --scores-out --scores-format --plot --help -h' ;;
        'stcli merge') echo '--out -o --quiet -q --help -h' ;;
        'stcli train-head') echo '--out -o --preset -p --checkpoint -c --device --backend --precision --batch-size --views --background --val-fraction --seed --weight-decay --cache --no-cache --force --format -f --quiet -q --help -h' ;;
        'stcli watch') echo '--preset -p --checkpoint -c --head --device --backend --precision --batch-size --every --average --top-k -k --threshold --min-duration --duration --realtime --reconnect --timeout --format -f --render --quiet -q --help -h' ;;
        'stcli weights') echo '--help -h' ;;
        'stcli weights download') echo '--force --quiet -q --help -h' ;;
        'stcli weights import') echo '--help -h' ;;
        'stcli weights list') echo '--format -f --help -h' ;;
        'stcli weights path') echo '--help -h' ;;
        'stcli weights prune') echo '--dry-run --format -f --help -h' ;;
    esac
}

_stcli_takes_value() {
    case "$1 $2" in
        'stcli bench --preset'|'stcli bench -p'|'stcli bench --checkpoint'|'stcli bench -c'|'stcli bench --video'|'stcli bench --batch-size'|'stcli bench --repeats'|'stcli bench --views'|'stcli bench --device'|'stcli bench --format'|'stcli bench -f'|'stcli bench --out'|'stcli bench -o'|'stcli classify --preset'|'stcli classify -p'|'stcli classify --checkpoint'|'stcli classify -c'|'stcli classify --head'|'stcli classify --device'|'stcli classify --backend'|'stcli classify --precision'|'stcli classify --batch-size'|'stcli classify --views'|'stcli classify --top-k'|'stcli classify -k'|'stcli classify --format'|'stcli classify -f'|'stcli classify --out'|'stcli classify -o'|'stcli classify --report-dir'|'stcli classify --shard'|'stcli classify --shards'|'stcli classify --start'|'stcli classify --end'|'stcli classify --executor'|'stcli classify --ray-address'|'stcli classify --workers'|'stcli classify --threads-per-worker'|'stcli detect --preset'|'stcli detect -p'|'stcli detect --checkpoint'|'stcli detect -c'|'stcli detect --device'|'stcli detect --backend'|'stcli detect --precision'|'stcli detect --batch-size'|'stcli detect --proposals'|'stcli detect --detector'|'stcli detect --person-detector'|'stcli detect --person-threshold'|'stcli detect --keyframe-interval'|'stcli detect --timestamps'|'stcli detect --time-offset'|'stcli detect --action-threshold'|'stcli detect --render'|'stcli detect --top'|'stcli detect --format'|'stcli detect -f'|'stcli detect --out'|'stcli detect -o'|'stcli detect --report-dir'|'stcli detect --shard'|'stcli detect --shards'|'stcli detect --start'|'stcli detect --end'|'stcli detect --executor'|'stcli detect --ray-address'|'stcli detect --workers'|'stcli detect --threads-per-worker'|'stcli evaluate ava --gt'|'stcli evaluate ava --pred'|'stcli evaluate ava --exclude'|'stcli evaluate ava --labels'|'stcli evaluate ava --iou'|'stcli evaluate ava --protocol'|'stcli evaluate ava --plot'|'stcli evaluate ava --format'|'stcli evaluate ava -f'|'stcli evaluate ava --out'|'stcli evaluate ava -o'|'stcli evaluate classification --gt'|'stcli evaluate classification --pred'|'stcli evaluate classification --format'|'stcli evaluate classification -f'|'stcli evaluate classification --out'|'stcli evaluate classification -o'|'stcli evaluate localization --gt'|'stcli evaluate localization --pred'|'stcli evaluate localization --subset'|'stcli evaluate localization --tiou'|'stcli evaluate localization --plot'|'stcli evaluate localization --format'|'stcli evaluate localization -f'|'stcli evaluate localization --out'|'stcli evaluate localization -o'|'stcli export --out'|'stcli export -o'|'stcli export --preset'|'stcli export -p'|'stcli export --checkpoint'|'stcli export -c'|'stcli export --quantize'|'stcli export --calibrate'|'stcli export --calibration-clips'|'stcli export --format'|'stcli export -f'|'stcli features --preset'|'stcli features -p'|'stcli features --checkpoint'|'stcli features -c'|'stcli features --device'|'stcli features --backend'|'stcli features --precision'|'stcli features --batch-size'|'stcli features --out'|'stcli features -o'|'stcli features --stride'|'stcli features --fps'|'stcli features --dtype'|'stcli features --format'|'stcli features -f'|'stcli features --report-dir'|'stcli features --shard'|'stcli features --shards'|'stcli features --start'|'stcli features --end'|'stcli features --executor'|'stcli features --ray-address'|'stcli features --workers'|'stcli features --threads-per-worker'|'stcli localize --preset'|'stcli localize -p'|'stcli localize --checkpoint'|'stcli localize -c'|'stcli localize --head'|'stcli localize --device'|'stcli localize --backend'|'stcli localize --precision'|'stcli localize --batch-size'|'stcli localize --windows'|'stcli localize --overlap'|'stcli localize --stride-s'|'stcli localize --classes'|'stcli localize --label-map'|'stcli localize --min-score'|'stcli localize --smooth'|'stcli localize --nms'|'stcli localize --nms-iou'|'stcli localize --sigma'|'stcli localize --max-segments'|'stcli localize --format'|'stcli localize -f'|'stcli localize --out'|'stcli localize -o'|'stcli localize --report-dir'|'stcli localize --shard'|'stcli localize --shards'|'stcli localize --start'|'stcli localize --end'|'stcli localize --executor'|'stcli localize --ray-address'|'stcli localize --workers'|'stcli localize --threads-per-worker'|'stcli localize --scores-out'|'stcli localize --scores-format'|'stcli localize --plot'|'stcli merge --out'|'stcli merge -o'|'stcli train-head --out'|'stcli train-head -o'|'stcli train-head --preset'|'stcli train-head -p'|'stcli train-head --checkpoint'|'stcli train-head -c'|'stcli train-head --device'|'stcli train-head --backend'|'stcli train-head --precision'|'stcli train-head --batch-size'|'stcli train-head --views'|'stcli train-head --background'|'stcli train-head --val-fraction'|'stcli train-head --seed'|'stcli train-head --weight-decay'|'stcli train-head --cache'|'stcli train-head --format'|'stcli train-head -f'|'stcli watch --preset'|'stcli watch -p'|'stcli watch --checkpoint'|'stcli watch -c'|'stcli watch --head'|'stcli watch --device'|'stcli watch --backend'|'stcli watch --precision'|'stcli watch --batch-size'|'stcli watch --every'|'stcli watch --average'|'stcli watch --top-k'|'stcli watch -k'|'stcli watch --threshold'|'stcli watch --min-duration'|'stcli watch --duration'|'stcli watch --reconnect'|'stcli watch --timeout'|'stcli watch --format'|'stcli watch -f'|'stcli watch --render'|'stcli weights list --format'|'stcli weights list -f'|'stcli weights prune --format'|'stcli weights prune -f') return 0 ;;
    esac
    return 1
}

_stcli_values() {
    case "$1 $2" in
        'stcli bench --preset'|'stcli bench -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli bench --checkpoint'|'stcli bench -c') _stcli_reply -f ;;
        'stcli bench --video') _stcli_reply -f ;;
        'stcli bench --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli bench --format'|'stcli bench -f') _stcli_reply -W 'table json' ;;
        'stcli bench --out'|'stcli bench -o') _stcli_reply -f ;;
        'stcli classify #'*) _stcli_reply -f ;;
        'stcli classify --preset'|'stcli classify -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli classify --checkpoint'|'stcli classify -c') _stcli_reply -f ;;
        'stcli classify --head') _stcli_reply -d ;;
        'stcli classify --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli classify --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli classify --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli classify --format'|'stcli classify -f') _stcli_reply -W 'table json jsonl csv' ;;
        'stcli classify --out'|'stcli classify -o') _stcli_reply -f ;;
        'stcli classify --report-dir') _stcli_reply -d ;;
        'stcli classify --executor') _stcli_reply -W 'local ray' ;;
        'stcli detect #'*) _stcli_reply -f ;;
        'stcli detect --preset'|'stcli detect -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli detect --checkpoint'|'stcli detect -c') _stcli_reply -f ;;
        'stcli detect --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli detect --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli detect --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli detect --proposals') _stcli_reply -f ;;
        'stcli detect --detector'|'stcli detect --person-detector') _stcli_reply -W 'hog onnx:' ;;
        'stcli detect --render') _stcli_reply -f ;;
        'stcli detect --format'|'stcli detect -f') _stcli_reply -W 'table json jsonl csv' ;;
        'stcli detect --out'|'stcli detect -o') _stcli_reply -f ;;
        'stcli detect --report-dir') _stcli_reply -d ;;
        'stcli detect --executor') _stcli_reply -W 'local ray' ;;
        'stcli evaluate ava --gt') _stcli_reply -f ;;
        'stcli evaluate ava --pred') _stcli_reply -f ;;
        'stcli evaluate ava --exclude') _stcli_reply -f ;;
        'stcli evaluate ava --labels') _stcli_reply -f ;;
        'stcli evaluate ava --protocol') _stcli_reply -W 'auto v2.1 2020' ;;
        'stcli evaluate ava --plot') _stcli_reply -d ;;
        'stcli evaluate ava --format'|'stcli evaluate ava -f') _stcli_reply -W 'table json csv' ;;
        'stcli evaluate ava --out'|'stcli evaluate ava -o') _stcli_reply -f ;;
        'stcli evaluate classification --gt') _stcli_reply -f ;;
        'stcli evaluate classification --pred') _stcli_reply -f ;;
        'stcli evaluate classification --format'|'stcli evaluate classification -f') _stcli_reply -W 'table json csv' ;;
        'stcli evaluate classification --out'|'stcli evaluate classification -o') _stcli_reply -f ;;
        'stcli evaluate localization --gt') _stcli_reply -f ;;
        'stcli evaluate localization --pred') _stcli_reply -f ;;
        'stcli evaluate localization --subset') _stcli_reply -W 'test validation' ;;
        'stcli evaluate localization --plot') _stcli_reply -d ;;
        'stcli evaluate localization --format'|'stcli evaluate localization -f') _stcli_reply -W 'table json csv' ;;
        'stcli evaluate localization --out'|'stcli evaluate localization -o') _stcli_reply -f ;;
        'stcli export --out'|'stcli export -o') _stcli_reply -f ;;
        'stcli export --preset'|'stcli export -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli export --checkpoint'|'stcli export -c') _stcli_reply -f ;;
        'stcli export --quantize') _stcli_reply -W int8 ;;
        'stcli export --calibrate') _stcli_reply -f ;;
        'stcli export --format'|'stcli export -f') _stcli_reply -W 'table json' ;;
        'stcli features #'*) _stcli_reply -f ;;
        'stcli features --preset'|'stcli features -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli features --checkpoint'|'stcli features -c') _stcli_reply -f ;;
        'stcli features --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli features --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli features --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli features --out'|'stcli features -o') _stcli_reply -d ;;
        'stcli features --dtype') _stcli_reply -W 'float32 float16' ;;
        'stcli features --format'|'stcli features -f') _stcli_reply -W 'table json jsonl csv' ;;
        'stcli features --report-dir') _stcli_reply -d ;;
        'stcli features --executor') _stcli_reply -W 'local ray' ;;
        'stcli localize #'*) _stcli_reply -f ;;
        'stcli localize --preset'|'stcli localize -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli localize --checkpoint'|'stcli localize -c') _stcli_reply -f ;;
        'stcli localize --head') _stcli_reply -d ;;
        'stcli localize --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli localize --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli localize --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli localize --label-map') _stcli_reply -f ;;
        'stcli localize --nms') _stcli_reply -W 'soft hard none' ;;
        'stcli localize --format'|'stcli localize -f') _stcli_reply -W 'table json jsonl csv' ;;
        'stcli localize --out'|'stcli localize -o') _stcli_reply -f ;;
        'stcli localize --report-dir') _stcli_reply -d ;;
        'stcli localize --executor') _stcli_reply -W 'local ray' ;;
        'stcli localize --scores-out') _stcli_reply -d ;;
        'stcli localize --scores-format') _stcli_reply -W 'csv npz' ;;
        'stcli localize --plot') _stcli_reply -d ;;
        'stcli merge --out'|'stcli merge -o') _stcli_reply -f ;;
        'stcli train-head #0') _stcli_reply -f ;;
        'stcli train-head --out'|'stcli train-head -o') _stcli_reply -f ;;
        'stcli train-head --preset'|'stcli train-head -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli train-head --checkpoint'|'stcli train-head -c') _stcli_reply -f ;;
        'stcli train-head --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli train-head --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli train-head --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli train-head --cache') _stcli_reply -d ;;
        'stcli train-head --format'|'stcli train-head -f') _stcli_reply -W 'table json' ;;
        'stcli watch --preset'|'stcli watch -p') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli watch --checkpoint'|'stcli watch -c') _stcli_reply -f ;;
        'stcli watch --head') _stcli_reply -d ;;
        'stcli watch --device') _stcli_reply -W 'auto cpu cuda' ;;
        'stcli watch --backend') _stcli_reply -W 'auto torch onnxruntime openvino' ;;
        'stcli watch --precision') _stcli_reply -W 'fp32 fp16 bf16' ;;
        'stcli watch --format'|'stcli watch -f') _stcli_reply -W 'table jsonl' ;;
        'stcli watch --render') _stcli_reply -f ;;
        'stcli weights download #0') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli weights import #0') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli weights import #1') _stcli_reply -f ;;
        'stcli weights list --format'|'stcli weights list -f') _stcli_reply -W 'table json' ;;
        'stcli weights path #0') _stcli_reply -W 'ava21 hmdb51 k400 k600' ;;
        'stcli weights prune --format'|'stcli weights prune -f') _stcli_reply -W 'table json' ;;
    esac
}

_stcli_reply() {
    [[ $1 == -W ]] || compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen "$@" -- "$cur")
}

_stcli_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local node=stcli word i arg=0
    COMPREPLY=()
    if [[ $cur == = ]]; then
        cur=''
    elif [[ $prev == = ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == -* ]]; then
            if _stcli_takes_value "$node" "$word"; then
                [[ ${COMP_WORDS[i+1]} == = ]] && i=$((i + 1))
                i=$((i + 1))
            fi
        elif [[ " $(_stcli_subcommands "$node") " == *" $word "* ]]; then
            node="$node $word" arg=0
        else
            arg=$((arg + 1))
        fi
    done
    if [[ $prev == -* ]] && _stcli_takes_value "$node" "$prev"; then
        _stcli_values "$node" "$prev"
    elif [[ $cur == -* ]]; then
        _stcli_reply -W "$(_stcli_options "$node")"
    elif [[ -n $(_stcli_subcommands "$node") ]]; then
        _stcli_reply -W "$(_stcli_subcommands "$node")"
    else
        _stcli_values "$node" "#$arg"
    fi
}

complete -F _stcli_complete stcli
