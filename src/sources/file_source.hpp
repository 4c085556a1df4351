// FileSource: a file as a stream of decompressed bytes (plain, gzip or zstd, told by content), read in
// blocks. A batch file is a bounded stream: the pipeline pulls blocks from it the way it pulls messages
// from Kafka or bodies from HTTP.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace advx {

enum class Compression : uint8_t { none, gzip, zstd };

class FileSource {
 public:
  // Opens `path`; on failure returns null and sets `error` to a one-line message naming the file.
  static std::unique_ptr<FileSource> open(const std::string& path, std::string* error);
  virtual ~FileSource();

  // Reads up to `n` decompressed bytes into `buf`. Returns the count, 0 at the end of the stream, or -1 with
  // `error` set (a read error, a corrupt or truncated compressed stream).
  virtual long read(char* buf, size_t n, std::string* error) = 0;

  Compression compression() const { return compression_; }
  uint64_t file_size() const { return file_size_; }
  // Bytes of the file consumed so far (compressed bytes for compressed files): for progress.
  uint64_t position() const { return position_; }

 protected:
  FileSource(std::FILE* f, std::string path, uint64_t size, Compression c)
      : file_(f), path_(std::move(path)), file_size_(size), compression_(c) {}
  size_t read_file(char* buf, size_t n);

  std::FILE* file_;
  std::string path_;
  uint64_t file_size_;
  uint64_t position_ = 0;
  Compression compression_;
};

}  // namespace advx
