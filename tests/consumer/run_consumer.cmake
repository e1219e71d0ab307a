# Runs one consumer test (tests/CMakeLists.txt registers them):
#   cmake -D MODE=install|find_package|add_subdirectory|fetchcontent -D ... -P run_consumer.cmake
#
# install: installs the ctnn build tree CTNN_BINARY_DIR into the scratch prefix CTNN_PREFIX and
#          checks the installed layout (the fixture for find_package).
# others:  configures tests/consumer in a fresh BINARY_DIR with ctnn obtained by MODE, builds it and
#          runs it (through its own ctest, so multi-config generators work too).

cmake_policy(VERSION 3.22)
function(run)
    list(JOIN ARGN " " line)
    message("> ${line}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "consumer ${MODE}: command failed (${status}): ${line}")
    endif()
endfunction()

set(config_args "")
set(ctest_config_args "")
if(CONFIG)
    set(config_args --config "${CONFIG}")
    set(ctest_config_args -C "${CONFIG}")
endif()

if(MODE STREQUAL "install")
    file(REMOVE_RECURSE "${CTNN_PREFIX}")
    run("${CMAKE_COMMAND}" --install "${CTNN_BINARY_DIR}" ${config_args} --prefix "${CTNN_PREFIX}")
    foreach(file include/ctnn/config.hpp include/ctnn/core/dataset.hpp
                 share/cmake/ctnn/ctnnConfig.cmake share/cmake/ctnn/ctnnConfigVersion.cmake
                 share/cmake/ctnn/ctnnTargets.cmake share/cmake/ctnn/CtnnEmbed.cmake
                 share/cmake/ctnn/ctnn-embed.cmake include/ctnn/static.hpp)
        if(NOT EXISTS "${CTNN_PREFIX}/${file}")
            message(FATAL_ERROR "consumer install: ${CTNN_PREFIX}/${file} was not installed")
        endif()
    endforeach()
    return()
endif()

set(options
    -D "CTNN_CONSUMER_MODE=${MODE}"
    -D "CTNN_EXPECTED_VERSION=${CTNN_VERSION}"
    -D "CTNN_EXPECT_ZLIB=${CTNN_HAS_ZLIB}"
    -D "CMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
    list(APPEND options -D "CMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CONFIG)
    list(APPEND options -D "CMAKE_BUILD_TYPE=${CONFIG}")
endif()
if(MODE STREQUAL "find_package")
    # Only the scratch prefix: neither the build tree nor the user package registry may satisfy
    # find_package(ctnn).
    list(APPEND options
        -D "CMAKE_PREFIX_PATH=${CTNN_PREFIX}" -D CMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
else()
    list(APPEND options -D "CTNN_SOURCE_DIR=${CTNN_SOURCE_DIR}")
endif()

file(REMOVE_RECURSE "${BINARY_DIR}")
run("${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}" ${options})
if(MODE STREQUAL "find_package")
    file(STRINGS "${BINARY_DIR}/CMakeCache.txt" found REGEX "^ctnn_DIR:")
    string(REGEX REPLACE "^ctnn_DIR:[A-Z]*=" "" found "${found}")
    cmake_path(IS_PREFIX CTNN_PREFIX "${found}" NORMALIZE in_prefix)
    if(NOT in_prefix)
        message(FATAL_ERROR
            "consumer find_package: found ctnn in '${found}', not in ${CTNN_PREFIX}")
    endif()
endif()
run("${CMAKE_COMMAND}" --build "${BINARY_DIR}" ${config_args})
run("${CMAKE_CTEST_COMMAND}" --test-dir "${BINARY_DIR}" ${ctest_config_args} --output-on-failure)
