#include <gtest/gtest.h>
TEST(doctor_Placeholder_test_host_checks, Builds) { SUCCEED(); }
