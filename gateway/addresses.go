package gateway

import (
	"sync"

	"directsms/numbers"
)

// addressCacheSize bounds the address cache. When full it starts again empty: simpler than
// eviction, and the senders that text again fill it back within seconds.
const addressCacheSize = 100_000

// addressCache remembers how the carriers' From and To strings classify. Parsing a number with
// phonenumbers costs tens of microseconds of regular expressions, more than the rest of a
// webhook's CPU; the same senders and the same tenant numbers come back all day. Classification
// depends only on the string and the region, so entries never go stale.
type addressCache struct {
	mu      sync.RWMutex
	entries map[addressKey]addressResult
}

type addressKey struct {
	input, region string
}

type addressResult struct {
	addr numbers.Address
	err  error
}

// classify is numbers.ClassifyAddress, cached.
func (c *addressCache) classify(input, region string) (numbers.Address, error) {
	k := addressKey{input, region}
	c.mu.RLock()
	r, ok := c.entries[k]
	c.mu.RUnlock()
	if ok {
		return r.addr, r.err
	}
	addr, err := numbers.ClassifyAddress(input, region)
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= addressCacheSize {
		c.entries = make(map[addressKey]addressResult, 1024)
	}
	c.entries[k] = addressResult{addr, err}
	c.mu.Unlock()
	return addr, err
}
