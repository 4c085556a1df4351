#include "core/utf8.hpp"

#include <gtest/gtest.h>

namespace advx {
namespace {

TEST(Utf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("é ü 中文 😀"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("abcdefgh\xfe"));      // after the 8-byte fast path
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a UTF-16 surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe4\xb8"));          // truncated
  EXPECT_FALSE(valid_utf8("\x80"));              // a lone continuation byte
}

TEST(Utf8, RepairReplacesEachBadByte) {
  EXPECT_EQ(repair_utf8("ok"), "ok");
  EXPECT_EQ(repair_utf8("a\xff\xfe"
                        "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_TRUE(valid_utf8(repair_utf8("\xc0\xaf\xed\xa0\x80 é")));
}

TEST(Utf8, PrefixNeverSplitsACharacter) {
  EXPECT_EQ(utf8_prefix("abc", 10), "abc");
  EXPECT_EQ(utf8_prefix("abé", 3), "ab");  // é is 2 bytes: the cut would split it
  EXPECT_EQ(utf8_prefix("abé", 4), "abé");
  EXPECT_EQ(utf8_prefix("中文", 4), "中");
  EXPECT_EQ(utf8_prefix("😀", 3), "");
}

// Every byte value at every position of a 17-byte string (two 8-byte words and the tail), and after a
// multi-byte character.
TEST(Utf8, TextFaultOfEveryByteAtEveryPosition) {
  EXPECT_EQ(text_fault(""), TextFault::none);
  EXPECT_EQ(text_fault("Mozilla/5.0 (X11; Linux x86_64) é 中 😀"), TextFault::none);
  EXPECT_EQ(text_fault("é\x01\xff"), TextFault::control);  // the first fault wins
  EXPECT_EQ(text_fault("é\xff\x01"), TextFault::not_utf8);
  for (const std::string prefix : {"", "é"}) {
    for (size_t pos = 0; pos < 17; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string s = prefix + std::string(17, 'a');
        s[prefix.size() + pos] = char(b);
        const TextFault want = b < 0x20 || b == 0x7F ? TextFault::control
                               : b >= 0x80           ? TextFault::not_utf8  // a lone byte is never UTF-8
                                                     : TextFault::none;
        EXPECT_EQ(text_fault(s), want) << prefix << " " << pos << " " << b;
      }
    }
  }
}

}  // namespace
}  // namespace advx
