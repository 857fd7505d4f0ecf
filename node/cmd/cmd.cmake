# cmd.cmake: md_cmd (the commands: node, status, demo, chaos) and the medic executable.
md_module(md_cmd cmd
  SOURCES daemon.c status_cli.c demo.c demo_ladder.c chaos.c
  LIBS md_api md_heal md_probe md_cluster md_config md_view md_base)

add_executable(medic ${CMAKE_SOURCE_DIR}/node/cmd/main.c)
target_link_libraries(medic PRIVATE md_cmd)
