// communicator.cpp — see communicator.h.
#include "communicator.h"

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace lk {

namespace {

const char* const kInstall =
    "install Open MPI (Debian / Ubuntu: apt-get install openmpi-bin libopenmpi-dev) and rebuild latentkit "
    "(npm rebuild latentkit), then start the job with mpirun";

// The folder of the addon this code is in (the plugin is built beside it).
std::string addon_folder() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&launched_by_mpi), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

Status Communicator::World(Communicator** out) {
  static std::mutex once;
  static Communicator* world = nullptr;
  static Status failed = Status::Ok();
  std::lock_guard<std::mutex> lock(once);
  if (world) {
    *out = world;
    return Status::Ok();
  }
  if (!failed.ok()) return failed;
  auto fail = [&](const std::string& why) {
    failed = Status::Error(Code::Distributed, "distributed training: " + why);
    return failed;
  };
  // libmpi global first (communicator.h), then the plugin linked against it.
  if (!dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL))
    return fail(std::string("Open MPI's libmpi.so.40 cannot be loaded (") + dlerror() + "); " + kInstall);
  const std::string plugin = addon_folder() + "/latentkit_mpi.so";
  if (access(plugin.c_str(), F_OK) != 0)
    return fail("this latentkit was built without Open MPI (no " + plugin + "); " + kInstall);
  void* handle = dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return fail(plugin + " cannot be loaded (" + std::string(dlerror()) + "); rebuild latentkit");
  auto entry = reinterpret_cast<const LkMpiApi* (*)()>(dlsym(handle, "lk_mpi_api"));
  const LkMpiApi* api = entry ? entry() : nullptr;
  if (!api || api->version != kLkMpiApiVersion) return fail(plugin + " does not match this addon; rebuild latentkit");
  auto* c = new Communicator();  // lives as long as the process (MPI is started once per process)
  c->api_ = api;
  const int rc = api->init(&c->rank_, &c->size_);
  if (rc != 0) {
    char text[256];
    api->error_string(rc, text, sizeof text);
    delete c;
    return fail(std::string("MPI_Init_thread failed: ") + text);
  }
  world = c;
  // MPI_Finalize at exit (after the JS exit hook has joined the jobs): a rank that exits without it is reported by
  // mpirun as an abnormal termination.
  std::atexit([] { world->api_->finalize(); });
  *out = world;
  return Status::Ok();
}

Status Communicator::check(int rc, const char* what) const {
  if (rc == 0) return Status::Ok();
  char text[256];
  api_->error_string(rc, text, sizeof text);
  return Status::Error(Code::Distributed, std::string("distributed training: ") + what + " failed on rank " +
                                              std::to_string(rank_) + ": " + text);
}

Status Communicator::all_reduce_sum(float* data, int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = api_->all_reduce_sum_f32(data, n);
  reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  reduce_bytes_ += n * static_cast<int64_t>(sizeof(float));
  return check(rc, "the gradient all-reduce");
}

Status Communicator::all_reduce_sum(double* data, int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  return check(api_->all_reduce_sum_f64(data, n), "an all-reduce");
}

Status Communicator::all_reduce_max(double* data, int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  return check(api_->all_reduce_max_f64(data, n), "an all-reduce");
}

Status Communicator::broadcast(void* data, int64_t bytes, int root) {
  std::lock_guard<std::mutex> lock(mutex_);
  return check(api_->broadcast(data, bytes, root), "a broadcast");
}

Status Communicator::all_gather(const void* mine, int64_t bytes, std::vector<uint8_t>* all) {
  std::lock_guard<std::mutex> lock(mutex_);
  all->resize(static_cast<size_t>(bytes * size_));
  return check(api_->all_gather(mine, bytes, all->data()), "an all-gather");
}

Status Communicator::barrier() {
  std::lock_guard<std::mutex> lock(mutex_);
  return check(api_->barrier(), "a barrier");
}

void Communicator::abort(int code) { api_->abort(code); }

}  // namespace lk
