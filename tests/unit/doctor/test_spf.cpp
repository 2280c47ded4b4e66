#include <gtest/gtest.h>
TEST(doctor_Placeholder_test_spf, Builds) { SUCCEED(); }
