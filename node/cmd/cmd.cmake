# cmd.cmake: md_cmd (the commands: node, status, health, gen-certs, demo, chaos, railway) and the medic executable.
# gen-certs writes X.509 with mbedx509, the library nng's TLS itself uses (libmbedtls-dev).
find_library(MD_MBEDX509_LIB mbedx509 REQUIRED)
md_module(md_cmd cmd
  SOURCES daemon.c identity.c status_cli.c demo.c demo_ladder.c chaos.c gen_certs.c certs.c railway_cli.c
    railway_sync.c railway_provision.c
  LIBS md_provision md_api md_heal md_failover md_probe md_cluster md_config md_view md_base md_raft_storage
    ${MD_MBEDX509_LIB} ${MD_MBEDCRYPTO_LIB})

add_executable(medic ${CMAKE_SOURCE_DIR}/node/cmd/main.c)
target_link_libraries(medic PRIVATE md_cmd)
