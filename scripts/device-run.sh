#!/usr/bin/env bash
# device-run.sh: the whole GPU check in one call, on a machine with an
# NVIDIA GPU and no Go (the lent GPU machine). `make device-bundle` builds
# devrun/ here (the binary and the gpu and gpu/cuda test binaries, gzipped
# and unpacked by this script; in _src/, the gpu package's sources and test
# data; MNIST, the PyTorch peer, this script as run.sh);
# there, from the repository root:
#
#	bash devrun/run.sh            # the GPU check, about 300 s at most
#	bash devrun/run.sh --dry-run  # every stage on the CPU, small sizes
#
# Stages, in order of value: devices (facts, libraries, GPUs), ops (one
# case of every op, GPU against CPU), train20 (a 20-step VAT run),
# headers (vg_cuda.h against NVIDIA's headers), parity (every case,
# fixtures recorded; "fixtures" then packs what was recorded), train12
# (the seed's 12-epoch VAT run), bench, peer (PyTorch on the same
# device), gputest (the gpu package's tests, live), semi1..semi3
# (100-label semi-supervised runs, one seed each, in the time left: each
# is stopped by its time limit, which is how it is meant to end).
#
# Each stage runs under `timeout -k` with a limit that keeps everything
# within one deadline (VATGPU_RUN_DEADLINE seconds, 300 by default, 240
# with --dry-run; 300 leaves a session's 15 minutes of device time room for
# the machine's start and a second call that re-runs what failed or was
# skipped, with VATGPU_RUN_STAGES); a stage that does not fit in the time left is skipped.
# A stage that fails does not stop the others. If train20 or parity fail
# with CUDA graphs, they are run again with VATGPU_GRAPHS=off, and if that
# passes the later stages run without graphs too.
#
# Results go to $OUT (default /tmp/vatgpu-out), at most 8 files of at most
# 16 MiB each (what the GPU machine sends back):
#	summary.txt        one line per stage: passed, failed or skipped, seconds, why
#	smoke.txt          devices (facts), ops, train20
#	parity.txt         parity's log and how the fixtures were packed
#	parity-1.tgz .. parity-3.tgz  the fixtures (parity-dry-N.tgz in a dry run);
#	                   `make parity-fixtures FROM=dir` puts them in testdata/parity
#	runs.txt           train12, bench and peer (JSON), semi1..semi3
#	tests.txt          headers and gputest
#
# For testing this script: VATGPU_RUN_STAGES=a,b runs only those stages;
# VATGPU_RUN_SABOTAGE=a,b makes those stages' commands fail;
# VATGPU_RUN_HANG=a,b makes those stages hang, ignoring SIGTERM;
# VATGPU_RUN_DEADLINE, _RESERVE (seconds kept at the end, 10) and
# _KILL_AFTER (seconds from SIGTERM to SIGKILL, 5) set the timing;
# VATGPU_RUN_TIMEOUT_OK="a b" names the stages whose timeout is their
# planned end (semi1 semi2 semi3 on a GPU).
set -u

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
HERE=$(dirname "$SELF")

# ---------------------------------------------------------------- stages
# Each stage is a function, run in a child (`run.sh --stage NAME`) under
# timeout. It prints what it does; a line "summary: TEXT" sets the note of
# its summary line (else the last line printed is used). Exit 0 passes,
# 77 skips, anything else fails.

stage_devices() {
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	uname -a
	ldd --version 2>&1 | head -1
	echo "cpus: $(nproc)"
	if command -v nvidia-smi >/dev/null; then
		timeout 20 nvidia-smi || echo "nvidia-smi: exit $?"
	else
		echo "nvidia-smi: not found"
	fi
	echo "python3: $(command -v python3 || echo none)"
	if [ "$DRY" = 0 ]; then
		timeout 45 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())' 2>&1 | tail -3
		for d in /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib; do
			[ -d "$d" ] && echo "wheel folder $d: $(ls "$d" | grep -E '^lib(cudnn|cublas|nvrtc|cudart)[^_]*\.so' | tr '\n' ' ')"
		done
		ls -d /usr/local/cuda*/include 2>/dev/null | sed 's/^/CUDA headers: /'
	fi
	echo "VATGPU_CUDA_PATH=${VATGPU_CUDA_PATH:-}"
	echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
	echo "VATGPU_GRAPHS=${VATGPU_GRAPHS:-}"
	local report
	report=$(./vatgpu devices 2>&1)
	local rc=$?
	echo "$report"
	[ $rc = 0 ] || { echo "summary: vatgpu devices: exit $rc"; return 1; }
	local status gpu
	status=$(echo "$report" | grep '^status:')
	gpu=$(echo "$report" | awk '/^GPU  *NAME/ {getline; print; exit}' | tr -s ' ')
	if [ "$DRY" = 1 ]; then
		echo "summary: $status (a dry run needs none)"
		return 0
	fi
	echo "summary: $status${gpu:+: $gpu}"
	case $status in "status: usable") return 0 ;; esac
	return 1
}

stage_ops() {
	./vatgpu parity --device "$DEV" --ops
}

stage_train20() {
	if [ "$DRY" = 1 ]; then
		./vatgpu train --device "$DEV" --vat --epochs 1 --limit 320 --batch 16 --data data --quiet
	else
		./vatgpu train --device "$DEV" --vat --epochs 1 --limit 2560 --batch 128 --data data --quiet
	fi
}

# gpu.test runs in _src/gpu and cuda.test (the bindings') in _src/gpu/cuda,
# beside the sources and test data they read.
gpu_test() {
	[ -x gpu.test ] || { echo "summary: no gpu.test in the bundle"; return 77; }
	(cd _src/gpu && ../../gpu.test "$@")
}
cuda_test() {
	[ -x cuda.test ] || { echo "summary: no cuda.test in the bundle"; return 77; }
	(cd _src/gpu/cuda && ../../../cuda.test "$@")
}

# The test binary's output is streamed (tee), so that it is in the log
# even if the stage is killed.
stage_headers() {
	local log=$WORK/headers.log rc
	cuda_test -test.v -test.count=1 -test.run '^TestBindingsMatchHeaders$' 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 77 ] && return 77
	if [ "$rc" = 0 ] && grep -q -- '--- SKIP: TestBindingsMatchHeaders' "$log"; then
		echo "summary: skipped: $(grep 'no usable CUDA' "$log" | sed 's/^ *verify_test.go:[0-9]*: //' | tail -1)"
		return 77
	fi
	if [ "$rc" = 0 ]; then
		echo "summary: $(grep -o 'checked .*' "$log" | tail -1)"
	fi
	return "$rc"
}

# parity records into $WORK/parity; pack_fixtures packs what it recorded
# afterwards, whether it finished or not.
stage_parity() {
	rm -rf "$WORK/parity"
	./vatgpu parity --device "$DEV" --record "$WORK/parity" 2>&1 | tee "$WORK/parity.log"
	local rc=${PIPESTATUS[0]}
	echo "summary: $(grep '^parity: [0-9]* cases' "$WORK/parity.log" | tail -1 | sed 's/; [0-9]* fixtures recorded in .*//')"
	return "$rc"
}

# pack_fixtures DIR PREFIX packs the fixtures of DIR into at most
# PARITY_PARTS files $OUT/PREFIX-N.tgz, each of files totalling at most
# PART_BYTES (gzip does not grow these files), largest files first, each
# into the first part with room. What fits in no part is left out and
# named. Each part unpacks on its own into parity/.
pack_fixtures() {
	local dir=$1 prefix=$2
	rm -f "$OUT/$prefix"-*.tgz
	local -a sums names
	local left="" size name i placed n=0
	for ((i = 1; i <= PARITY_PARTS; i++)); do sums[i]=0; names[i]=""; done
	while read -r size name; do
		[ -n "$name" ] || continue
		n=$((n + 1))
		placed=0
		for ((i = 1; i <= PARITY_PARTS; i++)); do
			if ((sums[i] + size <= PART_BYTES)); then
				sums[i]=$((sums[i] + size))
				names[i]="${names[i]} parity/$name"
				placed=1
				break
			fi
		done
		[ $placed = 1 ] || left="$left $name"
	done < <(find "$dir" -maxdepth 1 -name '*.safetensors' -printf '%s %f\n' 2>/dev/null | sort -rn)
	local parts="" rc=0
	for ((i = 1; i <= PARITY_PARTS; i++)); do
		[ -n "${names[i]}" ] || continue
		# shellcheck disable=SC2086
		if tar czf "$OUT/$prefix-$i.tgz" -C "$dir/.." ${names[i]}; then
			size=$(stat -c %s "$OUT/$prefix-$i.tgz")
			if ((size > MAX_FILE)); then
				rm -f "$OUT/$prefix-$i.tgz"
				left="$left (part $i: $size bytes, over the limit:${names[i]})"
				rc=1
			else
				parts="$parts $prefix-$i.tgz ($(mib "$size") MiB,$(echo "${names[i]}" | wc -w) fixtures)"
			fi
		else
			rc=1
		fi
	done
	echo "packed $n fixtures into${parts:- nothing}${left:+; left out:$left}"
	[ -z "$left" ] || rc=1
	[ $n -gt 0 ] || rc=2
	return $rc
}

# pack_stage packs the fixtures parity recorded, as the summary line
# "fixtures".
pack_stage() {
	if ! selected parity; then
		record fixtures skipped 0 "parity did not run"
		return 2
	fi
	local t1 rc note
	t1=$(now_ms)
	note=$(pack_fixtures "$WORK/parity" "$PARITY_PREFIX" 2>&1)
	rc=$?
	echo "== fixtures: $note" >>"$OUT/parity.txt"
	case $rc in
	0) record fixtures passed $(($(now_ms) - t1)) "$note" ;;
	2) record fixtures skipped $(($(now_ms) - t1)) "no fixture was recorded"; return 2 ;;
	*) record fixtures failed $(($(now_ms) - t1)) "$note"; return 1 ;;
	esac
}

stage_train12() {
	if [ "$DRY" = 1 ]; then
		./vatgpu train --device "$DEV" --vat --epochs 2 --limit 512 --batch 64 --data data --quiet
	else
		./vatgpu train --device "$DEV" --vat --epochs 12 --data data --quiet
	fi
}

stage_bench() {
	local rc
	if [ "$DRY" = 1 ]; then
		./vatgpu bench --device cpu --json --steps 2 --warmup 1 --batch 32 | tee "$WORK/bench.json"
	else
		./vatgpu bench --device all --json --data data | tee "$WORK/bench.json"
	fi
	rc=${PIPESTATUS[0]}
	echo "summary: $(json_summary "$WORK/bench.json")"
	return "$rc"
}

# json_summary FILE lists, for each JSON object of bench or the peer in
# FILE, its device and VAT images per second (or its error).
json_summary() {
	awk -F': ' '/"device"/ { d = $2 } /"vat_images_per_sec"/ { printf "%s %.0f VAT images/s; ", d, $2 }
		/"gpu_over_cpu_speedup"/ { printf "GPU/CPU %.1fx; ", $2 } /"error"/ { printf "%s error %s; ", d, $2 }' "$1" |
		tr -d '",' | sed 's/; $//'
}

stage_peer() {
	local err
	if ! err=$(timeout 60 python3 -c 'import torch' 2>&1); then
		echo "$err"
		echo "summary: python3 cannot import torch: $(echo "$err" | tail -1)"
		return 77
	fi
	export PYTHONUNBUFFERED=1
	local rc
	if [ "$DRY" = 1 ]; then
		python3 vat_peer.py --device cpu --json --steps 2 --warmup 1 --batch 32 | tee "$WORK/peer.json"
	else
		python3 vat_peer.py --device cuda --json --data data | tee "$WORK/peer.json"
	fi
	rc=${PIPESTATUS[0]}
	echo "summary: PyTorch $(json_summary "$WORK/peer.json")"
	return "$rc"
}

# -test.timeout ends a hanging test before the stage's limit, with every
# goroutine's stack in the log.
stage_gputest() {
	local log=$WORK/gputest.log rc
	local half=$(((LIMIT > 40 ? LIMIT - 20 : 20) / 2))
	{
		cuda_test -test.v -test.count=1 -test.timeout "${half}s" -test.skip '^TestBindingsMatchHeaders$'
		local r1=$?
		gpu_test -test.v -test.count=1 -test.timeout "${half}s"
		local r2=$?
		[ "$r1" = 0 ] || exit "$r1"
		exit "$r2"
	} 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 77 ] && return 77
	local pass skip fail code=""
	pass=$(grep -c '^--- PASS' "$log")
	skip=$(grep -c '^--- SKIP' "$log")
	fail=$(grep '^--- FAIL' "$log" | awk '{print $3}' | tr '\n' ' ' | sed 's/ $//')
	[ "$rc" = 0 ] || code=" (exit $rc)"
	echo "summary: $pass passed, $skip skipped${fail:+, failed: $fail}$code"
	return "$rc"
}

# semi1..semi3: the README's 100-label recipe, one seed each, stopped by
# the stage's time limit (a timeout is the planned end, see TIMEOUT_OK):
# each epoch's line shows how far it got. A dry run trains one short epoch
# and must finish.
stage_semi() {
	local seed=$1
	if [ "$DRY" = 1 ]; then
		./vatgpu train --device "$DEV" --preset paper --xi 10 --norm l2 --eps 3 --entmin --translate 2 --ema 0.999 \
			--epochs 1 --limit 1000 --batch 16 --ul-batch 64 --seed "$seed" --data data --quiet
	else
		./vatgpu train --device "$DEV" --preset paper --xi 10 --norm l2 --eps 3 --entmin --translate 2 --ema 0.999 \
			--epochs 30 --seed "$seed" --data data --quiet
	fi
}
stage_semi1() { stage_semi 1; }
stage_semi2() { stage_semi 2; }
stage_semi3() { stage_semi 3; }

# ---------------------------------------------------------------- runner

now_ms() { echo $(($(date +%s%N) / 1000000)); }
elapsed() { echo $((($(now_ms) - T0) / 1000)); }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

# record NAME STATUS MS NOTE appends NAME's line to the summary.
record() {
	printf '%-18s %-7s %7s  %s\n' "$1" "$2" "$(secs "$3")" "$4" >>"$OUT/summary.txt"
	printf '%-18s %-7s %7ss  %s\n' "$1" "$2" "$(secs "$3")" "$4"
}

selected() {
	[ "$STAGES" = all ] && return 0
	case ",$STAGES," in *",${1%-nographs},"*) return 0 ;; esac
	return 1
}

# cap_stage_output LOG FROM OUT: if the stage's output (OUT, which LOG
# holds from byte FROM on) is over 4 MiB, LOG keeps its first MiB and its
# last 3 MiB.
cap_stage_output() {
	local log=$1 from=$2 out=$3 size
	size=$(stat -c %s "$out")
	((size > 4 * 1048576)) || return 0
	head -c "$from" "$log" >"$WORK/log"
	head -c 1048576 "$out" >>"$WORK/log"
	printf '\n[... %d bytes left out ...]\n' $((size - 4 * 1048576)) >>"$WORK/log"
	tail -c $((3 * 1048576)) "$out" >>"$WORK/log"
	cat "$WORK/log" >"$log"
}

# run_stage NAME LOG MAX MIN runs stage NAME (function stage_NAME, or
# stage_BASE for NAME = BASE-nographs) with a limit of MAX seconds, or of
# the time left before the deadline if less, or skips it if that is under
# MIN. Its output goes to $OUT/LOG. It returns 0 when the stage passed.
run_stage() {
	local name=$1 log=$OUT/$2 max=$3 min=$4 base=${1%-nographs}
	if ! selected "$name"; then
		record "$name" skipped 0 "not in VATGPU_RUN_STAGES"
		return 2
	fi
	local left=$((DEADLINE - $(elapsed) - RESERVE))
	local limit=$((left < max ? left : max))
	if ((limit < min)); then
		echo "== $name: skipped: ${left}s left before the deadline, it needs ${min}s" >>"$log"
		record "$name" skipped 0 "not enough time: ${left}s left before the deadline, the stage needs ${min}s"
		return 2
	fi
	local -a cmd=(bash "$SELF" --stage "$base")
	[ -n "${5:-}" ] && cmd+=("$5")
	case ",$SABOTAGE," in *",$name,"*)
		cmd=(bash -c 'echo "VATGPU_RUN_SABOTAGE: stage $0 made to fail"; exit 3' "$name") ;;
	esac
	case ",$HANG," in *",$name,"*)
		cmd=(bash -c 'trap "" TERM; echo "VATGPU_RUN_HANG: stage $0 hangs, ignoring SIGTERM"; while :; do sleep 1; done' "$name") ;;
	esac
	echo "== stage $name: $(date -u +%H:%M:%S), limit ${limit}s, VATGPU_GRAPHS=${VATGPU_GRAPHS:-on}" >>"$log"
	echo ">> $name (limit ${limit}s)"
	# The output goes straight into the log, so that what a stage printed
	# comes back even if the whole run is killed; it is cut afterwards if
	# it is too long.
	local from t1 rc
	from=$(stat -c %s "$log")
	t1=$(now_ms)
	LIMIT=$limit timeout -k "$KILL_AFTER" "$limit" "${cmd[@]}" >>"$log" 2>&1 </dev/null
	rc=$?
	local ms=$(($(now_ms) - t1))
	local out=$WORK/$name.out
	tail -c +$((from + 1)) "$log" >"$out"
	cap_stage_output "$log" "$from" "$out"
	local note
	note=$(grep -a '^summary: ' "$out" | tail -1 | sed 's/^summary: //')
	case " $TIMEOUT_OK " in *" $name "*)
		[ -n "$note" ] || note=$(grep -a '^epoch ' "$out" | tail -1) ;;
	esac
	[ -n "$note" ] || note=$(grep -a -v '^[[:space:]]*$' "$out" | tail -1)
	note=$(echo "$note" | tr -d '\r' | cut -c1-300)
	echo "== $name: exit $rc after $(secs "$ms")s" >>"$log"
	case $rc in
	0) record "$name" passed "$ms" "$note" ;;
	77) record "$name" skipped "$ms" "$note"; return 2 ;;
	124 | 137)
		case " $TIMEOUT_OK " in *" $name "*)
			record "$name" passed "$ms" "stopped at its ${limit}s limit, as planned: ${note:-no epoch finished}"
			return 0 ;;
		esac
		record "$name" failed "$ms" "timed out after ${limit}s (killed; a hang?): ${note}"
		return 1 ;;
	*) record "$name" failed "$ms" "exit $rc: $note"; return 1 ;;
	esac
	return 0
}

# retry_without_graphs NAME LOG MAX MIN runs stage NAME again with
# VATGPU_GRAPHS=off after it failed with graphs; if that passes, the later
# stages run without graphs too.
retry_without_graphs() {
	[ "${VATGPU_GRAPHS:-on}" = off ] && return
	local save=${VATGPU_GRAPHS-}
	export VATGPU_GRAPHS=off
	if run_stage "$1-nographs" "$2" "$3" "$4"; then
		echo "later stages run with VATGPU_GRAPHS=off: $1 passed only without CUDA graphs" >>"$OUT/summary.txt"
	elif [ -n "$save" ]; then
		VATGPU_GRAPHS=$save
	else
		unset VATGPU_GRAPHS
	fi
}

# check_outputs makes every file in $OUT fit what comes back: a text file
# over the limit keeps its first and last MiBs; anything else over it is
# removed; the files are listed in the summary.
check_outputs() {
	local f size list="" count=0
	for f in "$OUT"/*; do
		[ -f "$f" ] || continue
		size=$(stat -c %s "$f")
		if ((size > MAX_FILE)); then
			case $f in
			*.txt)
				head -c 1048576 "$f" >"$WORK/cut"
				printf '\n[... cut to fit the 16 MiB limit ...]\n' >>"$WORK/cut"
				tail -c $((MAX_FILE - 2 * 1048576)) "$f" >>"$WORK/cut"
				mv "$WORK/cut" "$f"
				;;
			*) rm -f "$f"; echo "removed $(basename "$f"): $size bytes, over the limit" >>"$OUT/summary.txt" ;;
			esac
		fi
	done
	for f in "$OUT"/*; do
		[ -f "$f" ] || continue
		count=$((count + 1))
		list="$list $(basename "$f") ($(mib "$(stat -c %s "$f")") MiB)"
	done
	echo "files ($count of at most 8):$list" >>"$OUT/summary.txt"
	((count <= 8)) || echo "WARNING: $count files in $OUT; only 8 come back" >>"$OUT/summary.txt"
}

# ---------------------------------------------------------------- main

if [ "${1:-}" = --stage ]; then
	cd "$HERE" || exit 1
	"stage_$2" "${@:3}"
	exit $?
fi

DRY=0
for a in "$@"; do
	case $a in
	--dry-run) DRY=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument $a (--dry-run, --help)" >&2; exit 2 ;;
	esac
done
for tool in timeout tar gzip awk; do
	command -v $tool >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done
cd "$HERE" || exit 1
# make device-bundle gzips the binaries (a call carries at most 64 MiB, the
# working tree included): unpack them beside this script, over any older
# copy, and remove them at the end so that the bundle stays as small.
unpacked=()
for f in vatgpu gpu.test cuda.test; do
	if [ -f "$f.gz" ]; then
		{ gzip -dc "$f.gz" >"$f.tmp" && chmod +x "$f.tmp" && mv -f "$f.tmp" "$f"; } ||
			{ echo "run.sh: cannot unpack $f.gz" >&2; rm -f "$f.tmp"; exit 1; }
		unpacked+=("$HERE/$f")
	fi
done
[ -x ./vatgpu ] || { echo "run.sh: no ./vatgpu beside run.sh: run \`make device-bundle\` first" >&2; exit 1; }

OUT=${OUT:-/tmp/vatgpu-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK" ${unpacked[@]+"${unpacked[@]}"}' EXIT
DEADLINE=${VATGPU_RUN_DEADLINE:-$([ $DRY = 1 ] && echo 240 || echo 300)}
STAGES=${VATGPU_RUN_STAGES:-all}
SABOTAGE=${VATGPU_RUN_SABOTAGE:-}
HANG=${VATGPU_RUN_HANG:-}
RESERVE=${VATGPU_RUN_RESERVE:-10} # seconds kept for checking the outputs
KILL_AFTER=${VATGPU_RUN_KILL_AFTER:-5} # seconds between SIGTERM and SIGKILL
MAX_FILE=$((16 * 1048576 - 65536))
PART_BYTES=$((15 * 1048576))
PARITY_PARTS=3 # 8 files: summary, smoke, parity, runs, tests and three parts
PARITY_PREFIX=$([ $DRY = 1 ] && echo parity-dry || echo parity)
# Stages whose timeout is their planned end (a dry run's must finish).
TIMEOUT_OK=${VATGPU_RUN_TIMEOUT_OK:-$([ $DRY = 1 ] || echo "semi1 semi2 semi3")}
DEV=$([ $DRY = 1 ] && echo cpu || echo 0)
export DRY DEV WORK OUT PARITY_PARTS PART_BYTES PARITY_PREFIX MAX_FILE
T0=$(now_ms)
trap 'echo "interrupted after $(elapsed)s" >>"$OUT/summary.txt"; exit 130' INT TERM

rm -f "$OUT"/summary.txt "$OUT"/smoke.txt "$OUT"/parity.txt "$OUT"/runs.txt "$OUT"/tests.txt \
	"$OUT"/parity-*.tgz "$OUT"/parity-dry-*.tgz
{
	echo "vatgpu device check: $([ $DRY = 1 ] && echo "dry run on the CPU" || echo "GPU 0"), deadline ${DEADLINE}s," \
		"started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
	printf '%-18s %-7s %7s  %s\n' STAGE STATUS SECONDS NOTE
} >"$OUT/summary.txt"

# The libraries: the binary searches the pip wheels itself; if it finds no
# usable GPU, Python's own list of site-packages is tried. cuDNN's later
# loads by soname (NVRTC) see only what LD_LIBRARY_PATH names, and the
# loader reads it at a program's start: export it for every stage.
# A cold machine's first load of the libraries can be slow: 60 s each.
if [ $DRY = 0 ] && ! timeout 60 ./vatgpu devices 2>/dev/null | grep -q '^status: usable' && [ -z "${VATGPU_CUDA_PATH:-}" ]; then
	libs=$(timeout 60 python3 -c 'import glob, os, site, sys
print(":".join(sorted({d for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path for d in glob.glob(os.path.join(p, "nvidia", "*", "lib"))})))' 2>/dev/null)
	[ -n "$libs" ] && export VATGPU_CUDA_PATH=$libs
fi
libpath=$(timeout 60 ./vatgpu devices --ld-library-path 2>/dev/null)
librc=$?
if [ -n "$libpath" ]; then
	export LD_LIBRARY_PATH=$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
elif [ $DRY = 0 ]; then
	echo "note: vatgpu devices --ld-library-path gave no folders (exit $librc): LD_LIBRARY_PATH unchanged, so cuDNN may not find NVRTC" >>"$OUT/summary.txt"
fi

failed=0
run_stage devices smoke.txt 90 5 || [ $? = 2 ] || failed=1
run_stage ops smoke.txt 60 10 || [ $? = 2 ] || failed=1
run_stage train20 smoke.txt 60 10 || { [ $? = 2 ] || { failed=1; retry_without_graphs train20 smoke.txt 60 10; }; }
run_stage headers tests.txt 30 5 || [ $? = 2 ] || failed=1
run_stage parity parity.txt 120 15 || { [ $? = 2 ] || { failed=1; retry_without_graphs parity parity.txt 120 15; }; }
pack_stage || [ $? = 2 ] || failed=1
run_stage train12 runs.txt 150 20 || [ $? = 2 ] || failed=1
run_stage bench runs.txt 90 15 || [ $? = 2 ] || failed=1
run_stage peer runs.txt 90 15 || [ $? = 2 ] || failed=1
run_stage gputest tests.txt 150 20 || [ $? = 2 ] || failed=1
run_stage semi1 runs.txt 60 20 || [ $? = 2 ] || failed=1
run_stage semi2 runs.txt 60 20 || [ $? = 2 ] || failed=1
run_stage semi3 runs.txt 60 20 || [ $? = 2 ] || failed=1

echo "total $(secs $(($(now_ms) - T0)))s of the ${DEADLINE}s deadline; $([ $failed = 0 ] && echo "no stage failed" || echo "some stages failed")" >>"$OUT/summary.txt"
check_outputs
echo
cat "$OUT/summary.txt"
exit $failed
