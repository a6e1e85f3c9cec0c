// Where the tests find their inputs. Each test source gets this header
// through `-include` (tests/CMakeLists.txt); the values are defined in the
// build tree's generated test_paths.cpp. As -D string literals they made
// every test object depend on the checkout's directory, so ccache reused
// none of them in a fresh clone elsewhere (as CI makes).
#pragma once

extern const char* const xbpf_test_shared_dir;        // ../shared: conformance suite, corpus
extern const char* const xbpf_test_data_dir;          // tests/data
extern const char* const xbpf_test_binary_dir;        // the build tree
extern const char* const xbpf_test_objects_dir;       // tests/objects/*.c, compiled

#define XBPF_SHARED_DIR xbpf_test_shared_dir
#define XBPF_TEST_DATA_DIR xbpf_test_data_dir
#define XBPF_BINARY_DIR xbpf_test_binary_dir
#define XBPF_TEST_OBJECTS_DIR xbpf_test_objects_dir
