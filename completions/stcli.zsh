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
                'bench:Measure every backend on this machine: ms per clip, speed-up over eager PyTorch, agreement with it, and seconds to classify a video end to end'
                'classify:Classify videos: top-k action labels per video, by the official test protocol'
                'detect:Find persons at keyframes and score 80 AVA actions for each (AVA CSV with --out .csv)'
                'evaluate:Score stcli outputs against ground truth (accuracy, mAP)'
                'export:Export a preset'"'"'s model to ONNX (fp32, or int8 with --quantize int8)'
                'features:Extract SqueezeTime snippet features (globally pooled backbone output) per video'
                'localize:Find action segments (label, start, end, score) in long videos with sliding windows'
                'merge:Merge the parts of a sharded run; refuses parts of other settings or runs, and names a missing, repeated or unfinished shard'
                'train-head:Train a head on labelled clips; use it with classify/localize --head'
                'watch:Watch a live source: score the newest clip every few seconds of stream time'
                'weights:List, locate, download and import checkpoint files; prune the ONNX exports made from them'
            )
            _describe -t commands 'stcli command' commands ;;
        argument)
            case $words[1] in
                bench) _stcli_bench ;;
                classify) _stcli_classify ;;
                detect) _stcli_detect ;;
                evaluate) _stcli_evaluate ;;
                export) _stcli_export ;;
                features) _stcli_features ;;
                localize) _stcli_localize ;;
                merge) _stcli_merge ;;
                train-head) _stcli_train_head ;;
                watch) _stcli_watch ;;
                weights) _stcli_weights ;;
            esac ;;
    esac
}

_stcli_bench() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --video'[Video whose clips are measured]:video:_files' \
        --batch-size'[Clips per network call]:batch-size: ' \
        --repeats'[Timed rounds per row (best and median reported)]:repeats: ' \
        --views'[Clips x crops of the end-to-end classify rows; the model-only rows take whole batches of these views]:views: ' \
        '(--int8 --no-int8)'{--int8,--no-int8}'[Quantize to int8 (calibrated on the clips) and measure it]' \
        '(--e2e --no-e2e)'{--e2e,--no-e2e}'[Also time classifying the whole video per backend]' \
        --torch-variants'[Also TorchScript freezing and torch.compile (about a minute to compile on 2 cores)]' \
        --device'[cpu, auto or cuda (cuda: fail without a GPU)]:device:(auto cpu cuda)' \
        '(--format -f)'{--format,-f}'[table or json]:format:(table json)' \
        '(--out -o)'{--out,-o}'[Write the JSON report to FILE.json]:out:_files' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_classify() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --head'[A NAME.head folder from '"'"'stcli train-head'"'"': your classes instead of the preset'"'"'s]:head:_files -/' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        --views'[Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3)]:views: ' \
        --fast'[1 clip, short side 256, centre crop 224 (validation setting)]' \
        '(--top-k -k)'{--top-k,-k}'[Labels per video]:top-k: ' \
        --force'[Run --views of more than 100 clips x crops per video (slow: the error gives an estimate)]' \
        '(--format -f)'{--format,-f}'[table, json, jsonl or csv]:format:(table json jsonl csv)' \
        '(--out -o)'{--out,-o}'[Write results to FILE (.csv, .json or .jsonl)]:out:_files' \
        --report-dir'[Also write one JSON report per video into DIR]:report-dir:_files -/' \
        --skip-existing'[With --report-dir: reuse the report of a video done by an earlier run when its fingerprint (command, version, checkpoint, settings, the video'"'"'s size and mtime) matches this run; recompute the others]' \
        --shard'[Process only shard I/N of the videos (I from 0), or '"'"'auto'"'"': the index and count of a SLURM array or Kubernetes indexed Job. --out FILE becomes FILE.part-IIII-of-NNNN.EXT; join the parts with '"'"'stcli merge'"'"']:shard: ' \
        --shards'[With --shard auto on Kubernetes: the shard count (the Job'"'"'s completions; default: $STCLI_SHARDS)]:shards: ' \
        --start'[Analyse each video from this time on, as if cut there: seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:start: ' \
        --end'[Analyse each video up to this time (frames shown before it): seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:end: ' \
        --executor'[Where videos are processed: local (this process) or ray (the workers of a Ray cluster; pip install '"'"'stcli\[ray\]'"'"')]:executor:(local ray)' \
        --ray-address'[With --executor ray: the cluster to use (HOST:PORT, or auto for the one '"'"'ray start'"'"' began on this machine)]:ray-address: ' \
        --workers'[With --executor ray: worker processes, each loading the model once]:workers: ' \
        --threads-per-worker'[With --executor ray: CPUs (network threads) per worker]:threads-per-worker: ' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:paths:_files'
}

_stcli_detect() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        --proposals'[Person boxes per keyframe: AVA CSV video_id,timestamp,x1,y1,x2,y2\[,score\] (normalized) or JSON]:proposals:_files' \
        '(--detector --person-detector)'{--detector,--person-detector}'[Person detector when no --proposals: hog (built in, offline) or onnx:MODEL.onnx (YOLO-style export; needs pip install '"'"'stcli\[onnx\]'"'"')]:person-detector:(hog onnx:)' \
        --person-threshold'[Minimum person score (default: the detector'"'"'s own; proposals: keep all)]:person-threshold: ' \
        --keyframe-interval'[Seconds between keyframes (default 1.0)]:keyframe-interval: ' \
        --timestamps'[Keyframe times in seconds, comma-separated]:timestamps: ' \
        --time-offset'[Seconds added to reported times (AVA clips cut at 15:00 use 900)]:time-offset: ' \
        --action-threshold'[Report actions scoring at least this]:action-threshold: ' \
        --all-scores'[Report every action scoring >= 0.002 (for '"'"'stcli evaluate ava'"'"')]' \
        --render'[Draw boxes and top actions: FILE.mp4 for one video, or a folder]:render:_files' \
        --top'[Actions per person in the table and --render]:top: ' \
        '(--format -f)'{--format,-f}'[table, json, jsonl or csv]:format:(table json jsonl csv)' \
        '(--out -o)'{--out,-o}'[Write results to FILE (.csv, .json or .jsonl)]:out:_files' \
        --report-dir'[Also write one JSON report per video into DIR]:report-dir:_files -/' \
        --skip-existing'[With --report-dir: reuse the report of a video done by an earlier run when its fingerprint (command, version, checkpoint, settings, the video'"'"'s size and mtime) matches this run; recompute the others]' \
        --shard'[Process only shard I/N of the videos (I from 0), or '"'"'auto'"'"': the index and count of a SLURM array or Kubernetes indexed Job. --out FILE becomes FILE.part-IIII-of-NNNN.EXT; join the parts with '"'"'stcli merge'"'"']:shard: ' \
        --shards'[With --shard auto on Kubernetes: the shard count (the Job'"'"'s completions; default: $STCLI_SHARDS)]:shards: ' \
        --start'[Analyse each video from this time on, as if cut there: seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:start: ' \
        --end'[Analyse each video up to this time (frames shown before it): seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:end: ' \
        --executor'[Where videos are processed: local (this process) or ray (the workers of a Ray cluster; pip install '"'"'stcli\[ray\]'"'"')]:executor:(local ray)' \
        --ray-address'[With --executor ray: the cluster to use (HOST:PORT, or auto for the one '"'"'ray start'"'"' began on this machine)]:ray-address: ' \
        --workers'[With --executor ray: worker processes, each loading the model once]:workers: ' \
        --threads-per-worker'[With --executor ray: CPUs (network threads) per worker]:threads-per-worker: ' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:paths:_files'
}

_stcli_evaluate() {
    local curcontext=$curcontext state line
    _arguments -C \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:command:->command' '*::argument:->argument'
    case $state in
        command)
            local -a commands=(
                'ava:Frame-level AP per action and mAP for AVA detections, as the official evaluator has it'
                'classification:Top-1, top-5 and mean class accuracy, per class and confusion matrix'
                'localization:AP per class and mAP at each tIoU threshold, as ActivityNet'"'"'s evaluator computes it'
            )
            _describe -t commands 'stcli evaluate command' commands ;;
        argument)
            case $words[1] in
                ava) _stcli_evaluate_ava ;;
                classification) _stcli_evaluate_classification ;;
                localization) _stcli_evaluate_localization ;;
            esac ;;
    esac
}

_stcli_evaluate_ava() {
    _arguments \
        --gt'[Ground truth CSV: video_id,timestamp,x1,y1,x2,y2,action_id\[,person_id\] (e.g. ava_val_v2.1.csv)]:gt:_files' \
        --pred'[Detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score; coordinates normalized to \[0, 1\]]:pred:_files' \
        --exclude'[Excluded timestamps CSV (video_id,timestamp), e.g. ava_val_excluded_timestamps_v2.1.csv]:exclude:_files' \
        --labels'[Evaluated actions: a pbtxt label map or '"'"'id: name'"'"' lines]:labels:_files' \
        --iou'[IoU threshold for a match]:iou: ' \
        --protocol'[Which official evaluator to follow: v2.1 (with --exclude; detections on any keyframe count), 2020 (keyframes without actions are video_id,timestamp rows of --gt; detections on keyframes it does not list are ignored), or auto: 2020 when --gt has such rows]:protocol:(auto v2.1 2020)' \
        --plot'[Write PNGs into DIR: a precision-recall curve per class (pr_*.png) and AP per class (ap_per_class.png)]:plot:_files -/' \
        '(--format -f)'{--format,-f}'[table, json or csv]:format:(table json csv)' \
        '(--out -o)'{--out,-o}'[Write the report to FILE (.json or .csv)]:out:_files' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_evaluate_classification() {
    _arguments \
        --gt'[Ground truth CSV: path,label rows (optional header; labels are class names of the preset, quoted when they hold a comma)]:gt:_files' \
        --pred'[Predictions: the .csv, .json or .jsonl file '"'"'stcli classify'"'"' wrote]:pred:_files' \
        '(--format -f)'{--format,-f}'[table, json or csv]:format:(table json csv)' \
        '(--out -o)'{--out,-o}'[Write the report to FILE (.json or .csv)]:out:_files' \
        --confusion'[Show the confusion matrix in the table even for more than 10 classes]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_evaluate_localization() {
    _arguments \
        --gt'[Ground truth: ActivityNet/ActionFormer/OpenTAD JSON, or the THUMOS14 folder of <Class>_val.txt / <Class>_test.txt files]:gt:_files' \
        --pred'[Predictions: the .json or .csv file '"'"'stcli localize'"'"' wrote]:pred:_files' \
        --subset'[Keep only ground-truth videos of this subset (test, validation)]:subset:(test validation)' \
        --tiou'[tIoU thresholds, comma-separated]:tiou: ' \
        --ignore-unknown-videos'[Leave out predictions on videos absent from the ground truth (or from --subset) instead of counting them as false positives, as ActivityNet'"'"'s evaluator does: for a prediction file that covers more videos on purpose]' \
        --plot'[Write PNGs into DIR: a precision-recall curve per class (pr_*.png) and AP per class (ap_per_class.png), and timelines of ground truth against predictions for the 5 worst videos (timeline_*.png)]:plot:_files -/' \
        '(--format -f)'{--format,-f}'[table, json or csv]:format:(table json csv)' \
        '(--out -o)'{--out,-o}'[Write the report to FILE (.json or .csv)]:out:_files' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_export() {
    _arguments \
        '(--out -o)'{--out,-o}'[The .onnx file to write]:out:_files' \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --quantize'[int8: static int8 quantization (recognition presets), calibrated on --calibrate videos; prints its agreement with fp32]:quantize:(int8)' \
        --calibrate'[Videos or folders whose clips calibrate --quantize (repeatable)]:calibrate:_files' \
        --calibration-clips'[At most this many clips in all]:calibration-clips: ' \
        '(--format -f)'{--format,-f}'[table or json]:format:(table json)' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

_stcli_features() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        '(--out -o)'{--out,-o}'[Folder for <video>.npy (T, 2048) and <video>.json (snippet times, settings, checkpoint sha256)]:out:_files -/' \
        --stride'[Frames between snippet starts (a snippet is 16 frames, every 4th)]:stride: ' \
        --fps'[Snippets per second instead of --stride]:fps: ' \
        --dtype'[float32 or float16]:dtype:(float32 float16)' \
        '(--format -f)'{--format,-f}'[table, json, jsonl or csv]:format:(table json jsonl csv)' \
        --report-dir'[Also write one JSON report per video into DIR]:report-dir:_files -/' \
        --skip-existing'[With --report-dir: reuse the report of a video done by an earlier run when its fingerprint (command, version, checkpoint, settings, the video'"'"'s size and mtime) matches this run; recompute the others]' \
        --shard'[Process only shard I/N of the videos (I from 0), or '"'"'auto'"'"': the index and count of a SLURM array or Kubernetes indexed Job. --out FILE becomes FILE.part-IIII-of-NNNN.EXT; join the parts with '"'"'stcli merge'"'"']:shard: ' \
        --shards'[With --shard auto on Kubernetes: the shard count (the Job'"'"'s completions; default: $STCLI_SHARDS)]:shards: ' \
        --start'[Analyse each video from this time on, as if cut there: seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:start: ' \
        --end'[Analyse each video up to this time (frames shown before it): seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:end: ' \
        --executor'[Where videos are processed: local (this process) or ray (the workers of a Ray cluster; pip install '"'"'stcli\[ray\]'"'"')]:executor:(local ray)' \
        --ray-address'[With --executor ray: the cluster to use (HOST:PORT, or auto for the one '"'"'ray start'"'"' began on this machine)]:ray-address: ' \
        --workers'[With --executor ray: worker processes, each loading the model once]:workers: ' \
        --threads-per-worker'[With --executor ray: CPUs (network threads) per worker]:threads-per-worker: ' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:paths:_files'
}

_stcli_localize() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --head'[A NAME.head folder from '"'"'stcli train-head'"'"': your classes instead of the preset'"'"'s]:head:_files -/' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        --windows'[Window lengths in frames, comma-separated; each window is one 16-frame clip spread over it (64 = every 4th frame, as the checkpoints were trained; S-CNN used 16,32,64,128,256,512)]:windows: ' \
        --overlap'[Overlap of consecutive windows of one length, in \[0, 1)]:overlap: ' \
        --stride-s'[Window stride in seconds (instead of --overlap)]:stride-s: ' \
        --classes'[Only these classes: names or ids, comma-separated]:classes: ' \
        --label-map'[CSV source_class,target_label: fold checkpoint classes into your labels (probabilities summed)]:label-map:_files' \
        --min-score'[Windows scoring at least this become candidate segments]:min-score: ' \
        --smooth'[Moving average over N windows of the score curve]:smooth: ' \
        --nms'[soft, hard or none]:nms:(soft hard none)' \
        --nms-iou'[tIoU above which hard NMS suppresses]:nms-iou: ' \
        --sigma'[Soft-NMS sigma]:sigma: ' \
        --max-segments'[Segments kept per video]:max-segments: ' \
        '(--format -f)'{--format,-f}'[table, json, jsonl or csv]:format:(table json jsonl csv)' \
        '(--out -o)'{--out,-o}'[Write results to FILE (.csv, .json or .jsonl)]:out:_files' \
        --report-dir'[Also write one JSON report per video into DIR]:report-dir:_files -/' \
        --skip-existing'[With --report-dir: reuse the report of a video done by an earlier run when its fingerprint (command, version, checkpoint, settings, the video'"'"'s size and mtime) matches this run; recompute the others]' \
        --shard'[Process only shard I/N of the videos (I from 0), or '"'"'auto'"'"': the index and count of a SLURM array or Kubernetes indexed Job. --out FILE becomes FILE.part-IIII-of-NNNN.EXT; join the parts with '"'"'stcli merge'"'"']:shard: ' \
        --shards'[With --shard auto on Kubernetes: the shard count (the Job'"'"'s completions; default: $STCLI_SHARDS)]:shards: ' \
        --start'[Analyse each video from this time on, as if cut there: seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:start: ' \
        --end'[Analyse each video up to this time (frames shown before it): seconds (12.5) or \[HH:\]MM:SS\[.fff\] (1:02:03.5)]:end: ' \
        --executor'[Where videos are processed: local (this process) or ray (the workers of a Ray cluster; pip install '"'"'stcli\[ray\]'"'"')]:executor:(local ray)' \
        --ray-address'[With --executor ray: the cluster to use (HOST:PORT, or auto for the one '"'"'ray start'"'"' began on this machine)]:ray-address: ' \
        --workers'[With --executor ray: worker processes, each loading the model once]:workers: ' \
        --threads-per-worker'[With --executor ray: CPUs (network threads) per worker]:threads-per-worker: ' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        --scores-out'[Save each video'"'"'s window scores into DIR (to re-threshold without running the model again)]:scores-out:_files -/' \
        --scores-format'[csv or npz, for --scores-out]:scores-format:(csv npz)' \
        --plot'[Write a PNG timeline per video into DIR (needs matplotlib: pip install '"'"'stcli\[plot\]'"'"')]:plot:_files -/' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:paths:_files'
}

_stcli_merge() {
    _arguments \
        '(--out -o)'{--out,-o}'[The merged file (.csv, .json or .jsonl): what one process running every shard would have written]:out:_files' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '*:parts: '
}

_stcli_train_head() {
    _arguments \
        '(--out -o)'{--out,-o}'[The head to write: a NAME.head folder (weights .safetensors + JSON metadata)]:out:_files' \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        --views'[Clips x crops sampled per training clip (each view is one training row)]:views: ' \
        --background'[A label used only to reject windows in '"'"'stcli localize'"'"']:background: ' \
        --val-fraction'[Share of each label'"'"'s clips held out for validation and early stopping]:val-fraction: ' \
        --seed'[Seed of the split and training]:seed: ' \
        --weight-decay'[L2 penalty of the linear head]:weight-decay: ' \
        --cache'[Feature cache folder (default: <weights cache>/features)]:cache:_files -/' \
        --no-cache'[Compute every clip'"'"'s features again, store nothing]' \
        --force'[Run --views of more than 100 clips x crops per video (slow: the error gives an estimate)]' \
        '(--format -f)'{--format,-f}'[table or json]:format:(table json)' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        1:clips:_files
}

_stcli_watch() {
    _arguments \
        '(--preset -p)'{--preset,-p}'[Model preset (see '"'"'stcli weights list'"'"')]:preset:(ava21 hmdb51 k400 k600)' \
        '(--checkpoint -c)'{--checkpoint,-c}'[Checkpoint file to use instead of the preset'"'"'s cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx file made by '"'"'stcli export'"'"']:checkpoint:_files' \
        --head'[A NAME.head folder from '"'"'stcli train-head'"'"': your classes instead of the preset'"'"'s]:head:_files -/' \
        --device'[auto (CUDA when present), cpu or cuda]:device:(auto cpu cuda)' \
        --backend'[auto (onnxruntime on the CPU when installed: same numbers, faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino]:backend:(auto torch onnxruntime openvino)' \
        --precision'[fp32 (exact); bf16: ~2x faster on a CPU with bf16 arithmetic (OpenVINO, pip install '"'"'stcli\[openvino\]'"'"'), close to fp32, not equal; fp16 or bf16 on CUDA (torch)]:precision:(fp32 fp16 bf16)' \
        --batch-size'[Clips per network call (views, windows, snippets or keyframe clips)]:batch-size: ' \
        --every'[Seconds of stream time between scored clips]:every: ' \
        --average'[Average the probabilities of the last N clips]:average: ' \
        '(--top-k -k)'{--top-k,-k}'[Labels per event]:top-k: ' \
        --threshold'[Report action segments: a label whose averaged score stays at or above T opens one (a '"'"'start'"'"' event), dropping below closes it ('"'"'end'"'"')]:threshold: ' \
        --min-duration'[With --threshold: seconds a label must stay above it before its segment starts]:min-duration: ' \
        --duration'[Stop after S seconds of stream time (default: until the stream ends or Ctrl-C)]:duration: ' \
        --realtime'[Read a file at its own frame rate, as if it were live (default: as fast as scoring allows)]' \
        --reconnect'[Reconnect up to N times when a stream is lost or refused (waiting 1, 2, 4, 4... s)]:reconnect: ' \
        --timeout'[Seconds without data after which a stream counts as lost]:timeout: ' \
        '(--format -f)'{--format,-f}'[table (a live view) or jsonl (one JSON event per line)]:format:(table jsonl)' \
        --render'[Also write the watched video with the newest labels drawn on it (an H.264 MP4, complete when the watch ends)]:render:_files' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:source: '
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
                'list:Show every preset, its checkpoint file and where (if anywhere) it is stored, and the cached ONNX exports (JSON: each preset'"'"'s under "exports")'
                'path:Print the path of a preset'"'"'s checkpoint (exit 1 if it is not stored yet)'
                'prune:Remove the cached ONNX exports whose checkpoint is no longer in the cache or $STCLI_WEIGHTS (exports of --checkpoint files elsewhere included: they are made again when next used)'
            )
            _describe -t commands 'stcli weights command' commands ;;
        argument)
            case $words[1] in
                download) _stcli_weights_download ;;
                import) _stcli_weights_import ;;
                list) _stcli_weights_list ;;
                path) _stcli_weights_path ;;
                prune) _stcli_weights_prune ;;
            esac ;;
    esac
}

_stcli_weights_download() {
    _arguments \
        --force'[Download again even if cached]' \
        '(--quiet -q)'{--quiet,-q}'[No progress bar or summary (warnings and errors still show)]' \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:preset:(ava21 hmdb51 k400 k600)'
}

_stcli_weights_import() {
    _arguments \
        '(--help -h)'{--help,-h}'[Show this message and exit]' \
        '1:preset:(ava21 hmdb51 k400 k600)' \
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
        '1:preset:(ava21 hmdb51 k400 k600)'
}

_stcli_weights_prune() {
    _arguments \
        --dry-run'[Only show what would be removed]' \
        '(--format -f)'{--format,-f}'[table or json]:format:(table json)' \
        '(--help -h)'{--help,-h}'[Show this message and exit]'
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _stcli "$@"
else
    compdef _stcli stcli
fi
