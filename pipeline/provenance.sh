#!/usr/bin/env bash
# provenance.sh COMMIT COMMAND...: the lines every results file starts with (TSV readers skip
# lines beginning with '#'): machine (CPU model, cores, memory, GPU and driver), commit, command.
commit=$1; shift
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
cores=$(nproc 2>/dev/null)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null)
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
printf '# machine: cpu=%s; cores=%s; memory=%s; gpu=%s\n' "${cpu:-unknown}" "${cores:-?}" "${mem:-?}" "${gpu:-none}"
printf '# commit: %s\n' "$commit"
printf '# command: %s\n' "$*"
