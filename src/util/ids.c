/* ids.c: xoshiro256** seeded from getrandom(); one generator per process (loop thread). */
#include "util/ids.h"
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t state[4];
static int seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void seed(void)
{
    if (getrandom(state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15u;
        state[1] = (uint64_t)ts.tv_sec;
        state[2] = (uint64_t)getpid() * 0xbf58476d1ce4e5b9u;
        state[3] = 0x94d049bb133111ebu;
    }
    if ((state[0] | state[1] | state[2] | state[3]) == 0)
        state[0] = 1;
    seeded = 1;
}

uint64_t cg_ids_random64(void)
{
    if (!seeded)
        seed();
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

size_t cg_ids_make(char *out, size_t size, const char *prefix, size_t nrandom)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (size == 0)
        return 0;
    size_t plen = strlen(prefix);
    if (plen > size - 1)
        plen = size - 1;
    memcpy(out, prefix, plen);
    size_t n = plen;
    uint64_t bits = 0;
    int left = 0;
    while (nrandom > 0 && n < size - 1) {
        if (left == 0) {
            bits = cg_ids_random64();
            left = 10; /* 10 draws of 6 bits from 64 */
        }
        unsigned v = (unsigned)(bits & 63u);
        bits >>= 6;
        left--;
        if (v >= 62)
            continue; /* rejection keeps the distribution uniform */
        out[n++] = alphabet[v];
        nrandom--;
    }
    out[n] = '\0';
    return n;
}
