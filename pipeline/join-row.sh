#!/usr/bin/env bash
# join-row.sh A.tsv B.tsv...: joins one-row TSV files (header + one row each, '#' lines skipped)
# side by side into one row; a column already present from an earlier file is not repeated
# (the first file's value wins), so identity columns shared by two tools appear once.
exec awk -F '\t' -v OFS='\t' '
  FNR == 1 { f++; r = 0 }
  /^#/ { next }
  { r++ }
  r == 1 { for (i = 1; i <= NF; i++) name[f, i] = $i; nf[f] = NF; next }
  r == 2 { for (i = 1; i <= NF; i++) val[f, i] = $i; next }
  r > 2  { printf "join-row.sh: %s: more than one row\n", FILENAME > "/dev/stderr"; bad = 1; exit 2 }
  END {
    if (bad) exit 2
    for (k = 1; k <= f; k++)
      for (i = 1; i <= nf[k]; i++)
        if (!(name[k, i] in seen)) { seen[name[k, i]] = 1; n++; hdr[n] = name[k, i]; out[n] = val[k, i] }
    for (i = 1; i <= n; i++) printf "%s%s", hdr[i], (i < n ? OFS : ORS)
    for (i = 1; i <= n; i++) printf "%s%s", out[i], (i < n ? OFS : ORS)
  }' "$@"
