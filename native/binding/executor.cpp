// executor.cpp — see executor.h. The thread is created on first use and lives until the process exits; jobs run in
// submission order.
#include "executor.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

#include "../core/memory.h"
#include "../core/threads.h"

namespace lk {

namespace {

struct Task {
  int threads = 0;
  const void* owner = nullptr;
  std::function<Status()> job;
  std::function<void(const Status&)> done;
};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) { thread_.detach(); }

  void post(Task task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
      ++pending_;
    }
    cv_.notify_one();
  }

  int drop(const void* owner) {
    std::deque<Task> dropped;  // destroyed outside the lock
    int n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->owner == owner) {
          dropped.push_back(std::move(*it));
          it = queue_.erase(it);
          --pending_;
          ++n;
        } else {
          ++it;
        }
      }
    }
    return n;
  }

  bool idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_ == 0;
  }

 private:
  void loop() {
    int current_threads = -1;
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      Status s;
      try {
        if (task.threads != current_threads) {
          set_compute_threads(task.threads);
          current_threads = task.threads;
        }
        s = task.job();
      } catch (const std::bad_alloc& e) {
        s = out_of_memory_status(e);
      } catch (const std::exception& e) {
        s = Status::Error(Code::Backend, e.what());
      } catch (...) {
        s = Status::Error(Code::Backend, "unknown native exception");
      }
      task.done(s);
      std::lock_guard<std::mutex> lock(mu_);
      --pending_;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  int pending_ = 0;  // queued or running
  std::thread thread_;
};

ComputeThread& compute_thread() {
  static ComputeThread* t = new ComputeThread();  // never destroyed: the detached thread may outlive statics
  return *t;
}

// A synchronous job on the calling thread, alone (see ScopedSingleThreadCompute).
Status run_inline(const std::function<Status()>& job) {
  ScopedSingleThreadCompute single;
  try {
    return job();
  } catch (const std::bad_alloc& e) {
    return out_of_memory_status(e);
  } catch (const std::exception& e) {
    return Status::Error(Code::Backend, e.what());
  }
}

}  // namespace

void post_to_compute_thread(int threads, const void* owner, std::function<Status()> job,
                            std::function<void(const Status&)> done) {
  compute_thread().post(Task{threads, owner, std::move(job), std::move(done)});
}

int drop_queued(const void* owner) { return compute_thread().drop(owner); }

Status run_on_compute_thread(int threads, double flops, const std::function<Status()>& job) {
  if (flops < kInlineFlops || !compute_thread().idle()) return run_inline(job);
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Status result;
  post_to_compute_thread(threads, nullptr, job, [&](const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    result = s;
    finished = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

}  // namespace lk
