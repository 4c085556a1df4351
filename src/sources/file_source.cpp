#include "sources/file_source.hpp"

#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace advx {
namespace {

constexpr size_t kCompressedBlock = 1 << 20;

class PlainSource final : public FileSource {
 public:
  using FileSource::FileSource;
  long read(char* buf, size_t n, std::string* error) override {
    const size_t got = read_file(buf, n);
    if (got == 0 && std::ferror(file_)) {
      *error = path_ + ": read error: " + std::strerror(errno);
      return -1;
    }
    return long(got);
  }
};

class GzipSource final : public FileSource {
 public:
  GzipSource(std::FILE* f, std::string path, uint64_t size)
      : FileSource(f, std::move(path), size, Compression::gzip) {
    std::memset(&z_, 0, sizeof z_);
    inflateInit2(&z_, 16 + MAX_WBITS);
    in_.resize(kCompressedBlock);
  }
  ~GzipSource() override { inflateEnd(&z_); }

  long read(char* buf, size_t n, std::string* error) override {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = uInt(n);
    while (z_.avail_out == n) {
      if (z_.avail_in == 0) {
        const size_t got = read_file(in_.data(), in_.size());
        if (got == 0) {
          if (std::ferror(file_)) {
            *error = path_ + ": read error: " + std::strerror(errno);
            return -1;
          }
          if (in_member_) {
            *error = path_ + ": truncated gzip stream";
            return -1;
          }
          return 0;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = uInt(got);
      }
      in_member_ = true;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;  // a gzip file may hold several members one after another
        inflateReset(&z_);
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        *error = path_ + ": corrupt gzip stream (" + (z_.msg ? z_.msg : "inflate failed") + ")";
        return -1;
      }
    }
    return long(n - z_.avail_out);
  }

 private:
  z_stream z_;
  std::vector<char> in_;
  bool in_member_ = false;
};

class ZstdSource final : public FileSource {
 public:
  ZstdSource(std::FILE* f, std::string path, uint64_t size)
      : FileSource(f, std::move(path), size, Compression::zstd) {
    ds_ = ZSTD_createDStream();
    ZSTD_initDStream(ds_);
    in_.resize(kCompressedBlock);
  }
  ~ZstdSource() override { ZSTD_freeDStream(ds_); }

  long read(char* buf, size_t n, std::string* error) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos == 0) {
      if (input_.pos == input_.size) {
        const size_t got = read_file(in_.data(), in_.size());
        if (got == 0) {
          if (std::ferror(file_)) {
            *error = path_ + ": read error: " + std::strerror(errno);
            return -1;
          }
          if (frame_open_) {
            *error = path_ + ": truncated zstd stream";
            return -1;
          }
          return 0;
        }
        input_ = {in_.data(), got, 0};
      }
      const size_t rc = ZSTD_decompressStream(ds_, &out, &input_);
      if (ZSTD_isError(rc)) {
        *error = path_ + ": corrupt zstd stream (" + ZSTD_getErrorName(rc) + ")";
        return -1;
      }
      frame_open_ = rc != 0;
    }
    return long(out.pos);
  }

 private:
  ZSTD_DStream* ds_;
  std::vector<char> in_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  bool frame_open_ = false;
};

}  // namespace

FileSource::~FileSource() {
  if (file_) std::fclose(file_);
}

size_t FileSource::read_file(char* buf, size_t n) {
  const size_t got = std::fread(buf, 1, n, file_);
  position_ += got;
  return got;
}

std::unique_ptr<FileSource> FileSource::open(const std::string& path, std::string* error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (std::fseek(f, 0, SEEK_END) != 0) {
    *error = path + ": not a regular file";
    std::fclose(f);
    return nullptr;
  }
  const long size = std::ftell(f);
  std::rewind(f);
  unsigned char magic[4] = {0, 0, 0, 0};
  const size_t got = std::fread(magic, 1, 4, f);
  std::rewind(f);
  if (size < 0) {
    *error = path + ": cannot read (is it a directory?)";
    std::fclose(f);
    return nullptr;
  }
  if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    return std::make_unique<GzipSource>(f, path, uint64_t(size));
  if (got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return std::make_unique<ZstdSource>(f, path, uint64_t(size));
  return std::unique_ptr<FileSource>(new PlainSource(f, path, uint64_t(size), Compression::none));
}

}  // namespace advx
