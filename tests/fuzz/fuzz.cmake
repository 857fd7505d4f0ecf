# fuzz.cmake: libFuzzer targets for every decoder of outside bytes, built with clang (CLANG_BIN)
# as part of ALL, and ctest tests (label "fuzz") that run each for a bounded time.
#
# Each target is compiled directly by clang, not through the project's compiler, so the usual
# flags are repeated here. A run starts from the seed corpus in tests/fuzz/corpus/<name>/, copied
# to a temporary directory first so that new inputs never land in the source tree; crashes are
# kept as ${CMAKE_BINARY_DIR}/fuzz-artifacts/<name>-crash-* for replay (`fuzz/fuzz_<name> FILE`).

set(MD_FUZZ_FLAGS
  -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -std=c11 -D_GNU_SOURCE "-DMD_VERSION=\"${PROJECT_VERSION}\""
  -Wall -Wextra -Werror -Wno-missing-field-initializers
  -I${CMAKE_SOURCE_DIR}/node -I${CMAKE_SOURCE_DIR}/util)
set(MD_FUZZ_SECONDS 30)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz ${CMAKE_BINARY_DIR}/fuzz-artifacts)

# md_fuzz_target(NAME name SOURCES src... [LIBS -lfoo...] [MAX_LEN bytes]): builds fuzz_<name>
# and adds the test fuzz.<name>. MAX_LEN lifts libFuzzer's default input limit (4096).
function(md_fuzz_target)
  cmake_parse_arguments(F "" "NAME;MAX_LEN" "SOURCES;LIBS" ${ARGN})
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 4096)
  endif()
  set(bin ${CMAKE_BINARY_DIR}/fuzz/fuzz_${F_NAME}) # not beside the target of the same name
  set(srcs ${CMAKE_SOURCE_DIR}/util/util.c) # every module may use util (libc only)
  foreach(s IN LISTS F_SOURCES)
    list(APPEND srcs ${CMAKE_SOURCE_DIR}/${s})
  endforeach()
  file(GLOB headers ${CMAKE_SOURCE_DIR}/node/*/*.h ${CMAKE_SOURCE_DIR}/util/*.h)
  add_custom_command(
    OUTPUT ${bin}
    COMMAND ${CLANG_BIN} ${MD_FUZZ_FLAGS} ${srcs} -o ${bin} ${F_LIBS}
    DEPENDS ${srcs} ${headers}
    COMMENT "Building libFuzzer target fuzz_${F_NAME}"
    VERBATIM)
  add_custom_target(fuzz_${F_NAME} ALL DEPENDS ${bin})

  set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${F_NAME})
  # No semicolon in the script: md_test passes COMMAND on as a CMake list, which splits at them.
  # -error_exitcode=1: libFuzzer's default for a crash is 77, which ctest took for "skipped"
  # (md_test's SKIP_RETURN_CODE), so a crashing target used to show up as a skip.
  md_test(fuzz.${F_NAME}
    COMMAND sh -c [[
      set -e
      work=$(mktemp -d "${TMPDIR:-/tmp}/medic-fuzz-XXXXXX")
      trap 'rm -rf "$work"' EXIT
      if [ -d "$2" ]
      then cp -R "$2"/. "$work"/
      fi
      "$1" -max_total_time="$3" -rss_limit_mb=2048 -timeout=10 -max_len="$5" -error_exitcode=1 \
           -print_final_stats=1 -artifact_prefix="$4" "$work"
    ]] sh ${bin} ${corpus} ${MD_FUZZ_SECONDS} ${CMAKE_BINARY_DIR}/fuzz-artifacts/${F_NAME}-
       ${F_MAX_LEN}
  )
endfunction()

# Heads up to MD_HTTP_MAX_HEAD (8192) and just past it must be reachable.
md_fuzz_target(NAME http_parse
  SOURCES tests/fuzz/fuzz_http_parse.c node/api/http_parse.c node/health/types.c
  MAX_LEN 10000)

md_fuzz_target(NAME config
  SOURCES tests/fuzz/fuzz_config.c node/config/config.c node/config/config_util.c node/config/config_render.c
          node/config/config_cluster.c node/config/config_remedy.c node/config/config_nul.c
          node/config/config_env.c node/config/config_timing.c node/config/config_failover.c
          node/health/verdict.c node/health/types.c
  LIBS -lcjson)

# Gossip values from peers: observations and node facts.
md_fuzz_target(NAME obs_codec
  SOURCES tests/fuzz/fuzz_obs_codec.c node/health/obs_codec.c node/health/types.c)

# Cluster messages from the network: the transport's envelope checks and its body decoders.
md_fuzz_target(NAME tp_envelope
  SOURCES tests/fuzz/fuzz_tp_envelope.c transport/envelope.c transport/codec.c transport/replay.c
  LIBS -lmbedcrypto)
md_fuzz_target(NAME tp_bodies
  SOURCES tests/fuzz/fuzz_tp_bodies.c transport/codec.c transport/kv.c
  MAX_LEN 8192)

# Raft storage: segment records, hardstate and snapshot headers as read back from disk. A small
# decoder: 20 s is plenty.
set(md_fuzz_seconds_saved ${MD_FUZZ_SECONDS})
set(MD_FUZZ_SECONDS 20)
md_fuzz_target(NAME storage_records
  SOURCES tests/fuzz/fuzz_storage_records.c consensus/record.c consensus/crc32c.c
          consensus/files.c consensus/io.c)
set(MD_FUZZ_SECONDS ${md_fuzz_seconds_saved})

# The remediation ledger: entries from the Raft log and snapshots from disk or the leader. Small
# decoders with CRCs (the targets fix the CRC so mutations reach the structure): 20 s each.
set(md_fuzz_seconds_saved ${MD_FUZZ_SECONDS})
set(MD_FUZZ_SECONDS 20)
set(md_ledger_fuzz_sources node/remedy/ledger.c node/remedy/ledger_apply.c node/remedy/ledger_codec.c node/remedy/ledger_snap.c)
md_fuzz_target(NAME ledger_entry
  SOURCES tests/fuzz/fuzz_ledger_entry.c ${md_ledger_fuzz_sources}
  MAX_LEN 16384)
md_fuzz_target(NAME ledger_snapshot
  SOURCES tests/fuzz/fuzz_ledger_snapshot.c ${md_ledger_fuzz_sources}
  MAX_LEN 65536)
set(MD_FUZZ_SECONDS ${md_fuzz_seconds_saved})

# Railway API answers: the classifier, the extractors over the schema's shapes, the rate-limit
# headers (pace.c), and scrubbing.
md_fuzz_target(NAME railway_answer
  SOURCES tests/fuzz/fuzz_railway_answer.c railway/answer.c railway/util.c railway/pace.c
  LIBS -lcjson
  MAX_LEN 16384)

# Raft messages from peers: the decoder, and the core stepping whatever decodes (in every role),
# which must refuse bad input with an error, never an assert. A small decoder: 20 s.
set(md_fuzz_seconds_saved ${MD_FUZZ_SECONDS})
set(MD_FUZZ_SECONDS 20)
md_fuzz_target(NAME raft_codec
  SOURCES tests/fuzz/fuzz_raft_codec.c consensus/raft.c consensus/raft_log.c consensus/election.c
          consensus/replication.c consensus/progress.c consensus/lease.c consensus/transfer.c
          consensus/snapshot.c consensus/ready.c consensus/codec.c)
set(MD_FUZZ_SECONDS ${md_fuzz_seconds_saved})
