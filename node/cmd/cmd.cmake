# cmd.cmake: md_cmd (the commands: node, status, demo) and the medic executable.
md_module(md_cmd cmd
  SOURCES daemon.c identity.c status_cli.c demo.c
  LIBS md_api md_heal md_probe md_cluster md_config md_view md_base md_raft_storage)

add_executable(medic ${CMAKE_SOURCE_DIR}/node/cmd/main.c)
target_link_libraries(medic PRIVATE md_cmd)
