#!/usr/bin/env bash
# The instruction-set files (src/quant/fast/x86/) must not define weak symbols that code built
# for a lower set also defines: the linker keeps one copy of each for the whole program, and a
# copy compiled for AVX-512 called from baseline code stops an AVX2-only CPU with an illegal
# instruction (std::vector<float>::resize did, in the sanitizer build). Fails on any weak
# std:: function of such a file whose template arguments name none of sluice's own types
# (kernels.h's FilesVector gives the files' vectors such a type).
#
#   check_isa_symbols.sh LIBRARY.a
set -euo pipefail
library=$1
shared=$(nm -C --defined-only "$library" | awk '
  /^[^ ]+\.o:$/ { member = $0; isa = (member ~ /^(dot_avx|activations_avx|tile_|token_groups_)/) ; next }
  isa && ($2 == "W" || $2 == "V") { $1 = ""; $2 = ""; sub(/^  /, ""); print member " " $0 }' |
  grep ' std::' | grep -v 'sluice::' || true)
if [ -n "$shared" ]; then
  echo "weak std:: symbols in instruction-set files, shared with code for other sets:"
  echo "$shared"
  exit 1
fi
echo "no shared weak std:: symbols in the instruction-set files of $library"
