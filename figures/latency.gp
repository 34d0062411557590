# latency.gp: time to first token (left) and total latency (right) against the number of new
# tokens, one line per variant, for one model, device and thread count. Input: the speed table.
load 'figures/style.gp'
if (!exists("mod")) mod = system("awk -F'\t' '!/^#/ && $1!=\"model\" {print $1; exit}' ".in)
if (!exists("dev")) dev = "cpu"
if (!exists("thr")) thr = 1
used = uniq(in, "variant")
sel(v) = (strcol("model") eq mod && strcol("device") eq dev && column("threads") == thr && strcol("variant") eq v)
set key outside right top vertical
set xlabel "new tokens"
set multiplot layout 1, 2 title sprintf("%s on %s, %d thread(s): latency (mean ± std)", mod, dev, thr)
unset key
set title "time to first token"
set ylabel "TTFT (s)"
set yrange [0:*]
plot for [i = 1:words(used)] in using (sel(word(used, i)) ? column("new_tokens") : NaN):"ttft_s":(sd("ttft_s_std")) \
       with yerrorlines lw 1.5 pt 7 ps 0.6 lc rgb vcolor(word(used, i)) title word(used, i)
set key outside right top vertical
set title "total latency (prompt + all new tokens)"
set ylabel "total (s)"
plot for [i = 1:words(used)] in using (sel(word(used, i)) ? column("new_tokens") : NaN):"total_s":(sd("total_s_std")) \
       with yerrorlines lw 1.5 pt 7 ps 0.6 lc rgb vcolor(word(used, i)) title word(used, i)
unset multiplot
