# node.cmake: the node's modules, one library per folder, in the order they may use each other
# (a module uses only modules listed before it; node/README.md draws the arrows).
include(${CMAKE_CURRENT_LIST_DIR}/base/base.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/health/health.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/config/config.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/view/view.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/probe/probe.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/cluster/cluster.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/remedy/remedy.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/heal/heal.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/api/api.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/provision/provision.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/cmd/cmd.cmake)
