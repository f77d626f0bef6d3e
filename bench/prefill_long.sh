#!/bin/sh
# Prefill speed at long prompts, two binaries in alternating rounds (a reference measured in
# the same rounds; compare the ratio of medians, not absolute figures).
# usage: bench/prefill_long.sh MODEL BEFORE_BIN AFTER_BIN [ROUNDS] [LENGTHS]
set -eu
model=$1 before=$2 after=$3 rounds=${4:-3} lens=${5:-"1024 2048"}
for n in $lens; do
    toks=$(awk -v n="$n" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "%d ", 1000 + int(rand() * 29000) }')
    b="" a=""
    for r in $(seq "$rounds"); do
        for which in before after; do
            bin=$before; [ "$which" = after ] && bin=$after
            s=$("$bin" generate --model "$model" --tokens "$toks" --n-predict 1 --greedy --threads 2 2>&1 |
                sed -n 's/^prompt: [0-9]* tokens \([0-9.]*\) tok\/s.*/\1/p')
            echo "n=$n round=$r $which $s tok/s"
            if [ "$which" = before ]; then b="$b $s"; else a="$a $s"; fi
        done
    done
    med() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
    mb=$(med $b) ma=$(med $a)
    echo "n=$n median before $mb after $ma ratio $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')"
done
