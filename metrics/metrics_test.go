package metrics

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNilMetricsDoNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/x", "GET", 200, time.Millisecond)
	m.LoginAttempt(LoginSuccess)
	m.ObservePasswordHash(time.Millisecond)
	m.ObserveStoreWrite(time.Millisecond)
	assert.NoError(t, m.RegisterActiveSessions(nil))
	assert.NoError(t, m.RegisterBuildInfo("v1", "abc"))
	assert.Nil(t, m.Registry())
	assert.NotNil(t, m.Handler())
}

func TestMethodLabelsAreBounded(t *testing.T) {
	m := New()
	for _, method := range []string{"GET", "BREW", "get", "PROPFIND", "DELETE"} {
		m.ObserveRequest("/r", method, 200, time.Millisecond)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("/r", "GET", "200")))
	assert.Equal(t, 3.0, testutil.ToFloat64(m.requests.WithLabelValues("/r", "other", "200")))
	assert.Equal(t, 3, testutil.CollectAndCount(m.requests))
}

// Requests observed at once, on series new and known, are each counted
// once in their own series.
func TestObserveRequestCountsEverySeries(t *testing.T) {
	m := New()
	routes := []string{"/a", "/b/:id", Unmatched}
	statuses := []int{200, 404, 418}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 270 { // 30 of each route and status
				m.ObserveRequest(routes[i%3], "GET", statuses[i/3%3], time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, r := range routes {
		for _, st := range statuses {
			assert.Equal(t, 8*30.0, testutil.ToFloat64(m.requests.WithLabelValues(r, "GET", strconv.Itoa(st))), "%s %d", r, st)
		}
	}
	assert.Equal(t, 9, testutil.CollectAndCount(m.requests))
	assert.Equal(t, 3, testutil.CollectAndCount(m.duration))
	assert.Contains(t, scrape(t, m), `simpleapi_http_request_duration_seconds_count{method="GET",route="/b/:id"} 720`)
}

func TestActiveSessions(t *testing.T) {
	m := New()
	n, fail := 3, false
	require.NoError(t, m.RegisterActiveSessions(func(context.Context) (int, error) {
		if fail {
			return 0, errors.New("down")
		}
		return n, nil
	}))
	assert.Equal(t, 3.0, gather(t, m, "simpleapi_active_sessions"))
	n = 5
	assert.Equal(t, 5.0, gather(t, m, "simpleapi_active_sessions"))
	fail = true
	assert.True(t, math.IsNaN(gather(t, m, "simpleapi_active_sessions")))
	assert.Error(t, m.RegisterActiveSessions(func(context.Context) (int, error) { return 0, nil }),
		"registered once")
}

func gather(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestBuildInfo(t *testing.T) {
	m := New()
	require.NoError(t, m.RegisterBuildInfo("v1.2.3", "0123abcd"))
	want := `# HELP simpleapi_build_info Always 1; the labels describe the running build.
# TYPE simpleapi_build_info gauge
simpleapi_build_info{goversion="` + runtime.Version() + `",revision="0123abcd",version="v1.2.3"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "simpleapi_build_info"))
	assert.Error(t, m.RegisterBuildInfo("v1.2.3", "0123abcd"), "registered once")
}

func TestStoreOperationsAndPool(t *testing.T) {
	var nilM *Metrics
	assert.Nil(t, nilM.StoreObserver("redis"))
	assert.NoError(t, nilM.RegisterPool("redis", nil))
	assert.NoError(t, nilM.RegisterPoolTimeouts("redis", nil))
	assert.Nil(t, nilM.StoreNodeError("redis"))

	m := New()
	obs := m.StoreObserver("redis")
	obs("session_by_token_hash", time.Millisecond)
	obs("session_by_token_hash", 2*time.Millisecond)
	m.StoreObserver("postgres")("create_user", time.Millisecond)
	assert.Equal(t, 2, testutil.CollectAndCount(m.storeOps))

	inUse, idle := 3, 7
	require.NoError(t, m.RegisterPool("redis", func() (int, int) { return inUse, idle }))
	require.Error(t, m.RegisterPool("redis", func() (int, int) { return 0, 0 }), "registered once per backend")
	require.NoError(t, m.RegisterPoolTimeouts("redis", func() uint64 { return 4 }))
	nodeError := m.StoreNodeError("redis")
	nodeError("10.0.0.1:7000")
	nodeError("10.0.0.1:7000")
	text := scrape(t, m)
	assert.Contains(t, text, `simpleapi_store_pool_connections{backend="redis",state="in_use"} 3`)
	assert.Contains(t, text, `simpleapi_store_pool_connections{backend="redis",state="idle"} 7`)
	assert.Contains(t, text, `simpleapi_store_pool_timeouts_total{backend="redis"} 4`)
	assert.Contains(t, text, `simpleapi_store_node_errors_total{backend="redis",node="10.0.0.1:7000"} 2`)
	assert.Contains(t, text, `simpleapi_store_operation_seconds_count{backend="redis",operation="session_by_token_hash"} 2`)
}

// scrape returns what the metrics endpoint serves.
func scrape(t *testing.T, m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}
