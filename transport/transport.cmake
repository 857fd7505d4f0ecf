# transport.cmake: the md_transport library (cluster messaging over nng), its unit tests, and
# nothing else; included by the top-level CMakeLists.txt. HMAC-SHA256 comes from mbedcrypto,
# which Debian's nng is itself built against.
find_package(nng CONFIG REQUIRED)
find_library(MD_MBEDCRYPTO_LIB mbedcrypto REQUIRED)

add_library(md_transport STATIC
  transport/codec.c
  transport/envelope.c
  transport/replay.c
  transport/kv.c
  transport/net.c
  transport/pipe_events.c
  transport/peers.c
  transport/gossip.c
  transport/transport.c
)
target_include_directories(md_transport PUBLIC transport)
target_link_libraries(md_transport PUBLIC md_util nng::nng PkgConfig::UV ${MD_MBEDCRYPTO_LIB})

# Transport tests may include the module's private tp_int.h.
md_test(unit.test_tp_codec SOURCES tests/unit/test_tp_codec.c LIBS md_transport)
md_test(unit.test_tp_rx SOURCES tests/unit/test_tp_rx.c LIBS md_transport)
foreach(t IN ITEMS test_tp_live test_tp_gossip test_tp_security test_tp_flood test_tp_replay test_tp_stall)
  md_test(unit.${t} SOURCES tests/unit/${t}.c tests/unit/test_tp_util.c LIBS md_transport)
endforeach()
