# view.cmake: md_view, the immutable picture of the node that readers get, and its holder.
find_package(Threads REQUIRED)
md_module(md_view view PURE
  SOURCES view.c
  LIBS md_health Threads::Threads)
