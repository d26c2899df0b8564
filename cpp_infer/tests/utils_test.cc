// Unit tests of the MindSpore-free utilities; prints "N passed, M failed" and exits non-zero on a failure.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "inc/utils.h"

static int passed = 0, failed = 0;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (cond) {                                                                  \
      ++passed;                                                                  \
    } else {                                                                     \
      ++failed;                                                                  \
      std::cerr << __FILE__ << ":" << __LINE__ << ": failed: " #cond << std::endl; \
    }                                                                            \
  } while (0)

static void TestParseArgs() {
  wrn::Args args;
  std::string error;
  CHECK(wrn::ParseArgs({"--mindir_path=m.mindir", "--input_dir=in", "--device_id=3", "--device_type=Ascend"}, &args,
                       &error));
  CHECK(args.mindir_path == "m.mindir" && args.input_dir == "in" && args.device_id == 3);
  CHECK(args.device_type == "Ascend" && args.output_dir == ".");
  wrn::Args bad;
  CHECK(!wrn::ParseArgs({"--input_dir=in"}, &bad, &error) && error == "missing --mindir_path");
  CHECK(!wrn::ParseArgs({"--mindir_path=m", "--input_dir=i", "--device_id=x"}, &bad, &error) &&
        error.find("--device_id=x") != std::string::npos);
  CHECK(!wrn::ParseArgs({"--mindir_path=m", "--input_dir=i", "--device_type=GPU"}, &bad, &error) &&
        error == "--device_type=GPU: expected Ascend310, Ascend or CPU");
  wrn::Args cpu;
  CHECK(wrn::ParseArgs({"--mindir_path=m", "--input_dir=i", "--device_type=CPU"}, &cpu, &error) &&
        cpu.device_type == "CPU");
  CHECK(!wrn::ParseArgs({"--mindir_path=m", "--input_dir=i", "--bogus=1"}, &bad, &error) &&
        error == "unknown argument --bogus");
  CHECK(!wrn::ParseArgs({"mindir"}, &bad, &error));
  CHECK(wrn::Usage("app").find("--mindir_path=FILE") != std::string::npos);
}

static void TestFiles(const std::string& dir) {
  std::string error;
  CHECK(wrn::MakeDirs(dir + "/a/b", &error));
  float values[4] = {1.5f, -2.0f, 3.25f, 0.0f};
  CHECK(wrn::WriteFile(dir + "/a/wrn_00002.bin", values, sizeof(values), &error));
  CHECK(wrn::WriteFile(dir + "/a/wrn_00000.bin", values, 8, &error));
  CHECK(wrn::WriteFile(dir + "/a/notes.txt", "x", 1, &error));
  std::vector<std::string> files = wrn::ListBinFiles(dir + "/a", &error);
  CHECK(files.size() == 2 && files[0] == dir + "/a/wrn_00000.bin" && files[1] == dir + "/a/wrn_00002.bin");
  std::vector<char> data;
  CHECK(wrn::ReadFile(files[1], &data, &error) && data.size() == sizeof(values));
  CHECK(reinterpret_cast<float*>(data.data())[2] == 3.25f);
  CHECK(wrn::Stem(files[1]) == "wrn_00002");
  CHECK(wrn::IsRegularFile(files[0]) && !wrn::IsRegularFile(dir + "/a") && !wrn::IsRegularFile(dir + "/none"));
  const std::vector<int64_t> nchw{1, 3, 32, 32};
  const std::vector<int64_t> nhwc{1, 32, 32, 3};
  CHECK(wrn::CheckSize("f", 16, 16, wrn::kFloat32Type, nchw).empty());
  std::string short_file = wrn::CheckSize("f.bin", 8, 12288, wrn::kFloat32Type, nchw);
  CHECK(short_file.find("f.bin: 8 bytes, expected 12288 (the model's input: float32 NCHW [1,3,32,32]") == 0);
  CHECK(short_file.find("uint8 batch") == std::string::npos);
  // Float files for a raw (uint8) model, and raw files for a float model, say which is which.
  std::string float_for_raw = wrn::CheckSize("r.bin", 12288, 3072, wrn::kUInt8Type, nhwc);
  CHECK(float_for_raw.find("r.bin: 12288 bytes, expected 3072 (the model's input: uint8 NHWC [1,32,32,3]") == 0);
  CHECK(float_for_raw.find("size of a float32 batch") != std::string::npos);
  std::string raw_for_float = wrn::CheckSize("n.bin", 3072, 12288, wrn::kFloat32Type, nchw);
  CHECK(raw_for_float.find("size of a uint8 batch") != std::string::npos);
  CHECK(wrn::ElementTypeName(wrn::kFloat16Type) == "float16" && wrn::ElementTypeName(99) == "type 99");
  CHECK(!wrn::ReadFile(dir + "/missing.bin", &data, &error) && error.find("missing.bin") != std::string::npos);
  std::vector<std::string> none = wrn::ListBinFiles(dir + "/a/b", &error);
  CHECK(none.empty() && error.find("holds no .bin files") != std::string::npos);
  CHECK(wrn::ListBinFiles(dir + "/nope", &error).empty() && error.find("cannot open") == 0);
}

static void TestLatency() {
  wrn::LatencyStats stats = wrn::ComputeLatency({100.0, 1.0, 2.0, 3.0, 4.0, 10.0});
  CHECK(stats.batches == 6 && stats.first_ms == 100.0);
  CHECK(stats.mean_ms == 4.0 && stats.p50_ms == 3.0);
  CHECK(stats.p99_ms > 9.7 && stats.p99_ms < 10.0);
  wrn::LatencyStats one = wrn::ComputeLatency({5.0});
  CHECK(one.mean_ms == 5.0 && one.p99_ms == 5.0);
  std::string text = wrn::FormatLatency(stats, 4);
  CHECK(text.find("NN inference cost average time: 4.000 ms of infer_count 6") == 0);
  CHECK(text.find("mean_ms_per_image: 1.0000") != std::string::npos);
}

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "utils_test_tmp";
  TestParseArgs();
  TestFiles(dir);
  TestLatency();
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
