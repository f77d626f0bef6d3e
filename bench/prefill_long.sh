#!/bin/sh
# Prefill speed at long prompts, and decoding speed after them (N_PREDICT > 1: that many
# tokens generated after the prompt, attention reading the whole context at every step), two
# binaries in alternating rounds (a reference measured in the same rounds; compare the ratio
# of medians, not absolute figures).
# usage: [N_PREDICT=64] bench/prefill_long.sh MODEL BEFORE_BIN AFTER_BIN [ROUNDS] [LENGTHS]
set -eu
model=$1 before=$2 after=$3 rounds=${4:-3} lens=${5:-"1024 2048"}
npred=${N_PREDICT:-1}
med() { echo "$@" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
for n in $lens; do
    toks=$(awk -v n="$n" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "%d ", 1000 + int(rand() * 29000) }')
    b="" a="" gb="" ga=""
    for r in $(seq "$rounds"); do
        for which in before after; do
            bin=$before; [ "$which" = after ] && bin=$after
            line=$("$bin" generate --model "$model" --tokens "$toks" --n-predict "$npred" --greedy \
                --threads 2 2>&1 | grep '^prompt:')
            s=$(echo "$line" | sed -n 's/^prompt: [0-9]* tokens \([0-9.]*\) tok\/s.*/\1/p')
            g=$(echo "$line" | sed -n 's/.*generation: [0-9]* tokens \([0-9.]*\) tok\/s.*/\1/p')
            if [ "$npred" -gt 1 ]; then
                echo "n=$n round=$r $which prefill $s tok/s, generation $g tok/s"
            else
                echo "n=$n round=$r $which $s tok/s"
            fi
            if [ "$which" = before ]; then b="$b $s" gb="$gb $g"; else a="$a $s" ga="$ga $g"; fi
        done
    done
    mb=$(med $b) ma=$(med $a)
    echo "n=$n median before $mb after $ma ratio $(ratio "$ma" "$mb")"
    if [ "$npred" -gt 1 ]; then
        mb=$(med $gb) ma=$(med $ga)
        echo "n=$n generation ($npred tokens) median before $mb after $ma ratio $(ratio "$ma" "$mb")"
    fi
done
