// Linked into the ThreadSanitizer test binaries only (ADVX_SANITIZE_THREAD). librdkafka (Debian's 2.0) makes
// its threads, mutexes and condition variables with C11 <threads.h> (thrd_create, mtx_lock, ...), which the
// TSan runtime of GCC 12 does not intercept: its threads then run without TSan's thread state (a crash in
// the first malloc of a broker thread) and its locking is invisible (every access it guards looks like a
// race). These definitions in the executable take the place of glibc's for librdkafka and forward to the
// pthread functions TSan does intercept; glibc implements C11 threads on the same pthread objects.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

static int result_of(int err) {
  switch (err) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

struct start {
  thrd_start_t func;
  void* arg;
};

static void* run_start(void* p) {
  struct start s = *(struct start*)p;
  free(p);
  return (void*)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct start* s = malloc(sizeof *s);
  if (!s) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  const int err = pthread_create(thr, NULL, run_start, s);
  if (err) free(s);
  return result_of(err);
}

int thrd_join(thrd_t thr, int* res) {
  void* value = NULL;
  const int err = pthread_join(thr, &value);
  if (!err && res) *res = (int)(intptr_t)value;
  return result_of(err);
}

int thrd_detach(thrd_t thr) { return result_of(pthread_detach(thr)); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int err = pthread_mutex_init((pthread_mutex_t*)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return result_of(err);
}

int mtx_lock(mtx_t* m) { return result_of(pthread_mutex_lock((pthread_mutex_t*)m)); }
int mtx_trylock(mtx_t* m) { return result_of(pthread_mutex_trylock((pthread_mutex_t*)m)); }
int mtx_timedlock(mtx_t* restrict m, const struct timespec* restrict at) {
  return result_of(pthread_mutex_timedlock((pthread_mutex_t*)m, at));
}
int mtx_unlock(mtx_t* m) { return result_of(pthread_mutex_unlock((pthread_mutex_t*)m)); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy((pthread_mutex_t*)m); }

int cnd_init(cnd_t* c) { return result_of(pthread_cond_init((pthread_cond_t*)c, NULL)); }
int cnd_signal(cnd_t* c) { return result_of(pthread_cond_signal((pthread_cond_t*)c)); }
int cnd_broadcast(cnd_t* c) { return result_of(pthread_cond_broadcast((pthread_cond_t*)c)); }
int cnd_wait(cnd_t* c, mtx_t* m) {
  return result_of(pthread_cond_wait((pthread_cond_t*)c, (pthread_mutex_t*)m));
}
int cnd_timedwait(cnd_t* restrict c, mtx_t* restrict m, const struct timespec* restrict at) {
  return result_of(pthread_cond_timedwait((pthread_cond_t*)c, (pthread_mutex_t*)m, at));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy((pthread_cond_t*)c); }

void call_once(once_flag* flag, void (*func)(void)) { pthread_once((pthread_once_t*)flag, func); }
