# peers.gp: qbench beside the peers (PyTorch, ONNX Runtime, llama.cpp) on this CPU, measured by the
# same harness: decode tokens/s of each peer variant next to ours on the variant it
# maps to, one panel per thread count, the ratio qbench / peer above each pair.
# Input: the peers-vs-speed table (pipeline/peers/compare.sh); the largest token count in it is shown.
load 'figures/style.gp'
nmax = int(system(sprintf("awk -F'\t' '/^#/ {next} !h++ {for (i = 1; i <= NF; i++) if ($i == \"new_tokens\") c = i; next} $c > m {m = $c} END {print m + 0}' %s", in)))
threads = uniq(in, "threads")
# One panel's rows: index, label, our variant, our tok/s, the peer's, the ratio.
rows(th) = sprintf("< awk -F'\t' -v OFS='\t' -v th=%s -v n=%d '/^#/ {next} !h++ {for (i = 1; i <= NF; i++) c[$i] = i; next} $c[\"threads\"] == th && $c[\"new_tokens\"] == n && $c[\"qbench_tok_s\"] != \"\" && $c[\"peer_tok_s\"] != \"\" {print ++k, $c[\"system\"] \" \" $c[\"variant\"], $c[\"variant\"], $c[\"qbench_tok_s\"], $c[\"peer_tok_s\"], $c[\"tok_s_ratio\"]}' %s", th, nmax, in)
set datafile separator "\t"
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth 0.38 absolute
set xtics rotate by 35 right
set yrange [0:*]
set offsets 0.6, 0.6, 0, 0
set ylabel "decode tokens/s"
set key top right
max(a, b) = a > b ? a : b
set multiplot layout 1, words(threads) title sprintf("qbench (coloured) beside each peer (grey) on this CPU, %d new tokens, same harness; label = qbench / peer", nmax)
do for [t = 1:words(threads)] {
    th = word(threads, t)
    set title sprintf("%s thread%s", th, th eq "1" ? "" : "s")
    plot rows(th) using ($1 - 0.2):4:(vrgb(strcol(3))):xticlabels(2) with boxes lc rgb variable notitle, \
         rows(th) using ($1 + 0.2):5 with boxes lc rgb "#BBBBBB" notitle, \
         rows(th) using 1:(max($4, $5)):(sprintf("%.2f×", $6)) with labels offset 0,0.8 font ",9" notitle
}
unset multiplot
