# lib.sh - shared by the engine benchmarks (engine.sh, engine_compare.sh, decode_compare.sh,
# embed.sh, embed_compare.sh):
# the read-bandwidth probe and the wait for idle CPUs. Source it after setting DIR.

# bw_probe THREADS: prints "READ_GBPS COPY_GBPS" (bench/bw_probe.c, built once into $DIR)
bw_probe() {
    [ -x "$DIR/bw" ] || cc -O3 -march=native -pthread -o "$DIR/bw" bench/bw_probe.c
    "$DIR/bw" "$1"
}

# CPU busy share (percent of all CPUs) over 3 s, from /proc/stat
busy_pct() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    sleep 3
    b=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    echo "$a $b" | awk '{busy=$3-$1; idle=$4-$2; t=busy+idle; printf "%d\n", t ? 100*busy/t : 0}'
}

# Waits until the CPUs are under IDLE_PCT (default 15) percent busy, for at most IDLE_WAIT
# (default 180) seconds; when they did not go idle in time, touches $DIR/busy.
wait_idle() {
    local start=$SECONDS
    while [ "$(busy_pct)" -ge "${IDLE_PCT:-15}" ]; do
        if [ $((SECONDS - start)) -ge "${IDLE_WAIT:-180}" ]; then touch "$DIR/busy"; return; fi
    done
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# embed_texts FILE: the embedding benchmarks' 32 texts of 126 words from the tiny vocabulary
# (each word is one token, 128 with [CLS]/[SEP]), the same every run
embed_texts() {
    local words=(the of and to in is it that this with for on as are was be by not or from at
        document question answer source search knowledge model token text vector sentence
        retrieval chat user team data file page quick brown fox jumps over lazy dog hello world)
    local seed=1 t w line
    : > "$1"
    for ((t = 0; t < 32; t++)); do
        line=""
        for ((w = 0; w < 126; w++)); do
            seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
            line+="${words[$(( seed / 65536 % ${#words[@]} ))]} "
        done
        echo "${line% }" >> "$1"
    done
}
