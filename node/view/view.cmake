# view.cmake: md_view, the immutable picture of the node that readers get, and its holder.
find_package(Threads REQUIRED)
md_module(md_view view PURE
  SOURCES view.c
  LIBS md_health Threads::Threads)

md_test(unit.test_view_share SOURCES tests/unit/test_view_share.c LIBS md_view)
md_test(unit.test_view_mem SOURCES tests/unit/test_view_mem.c LIBS md_view)
