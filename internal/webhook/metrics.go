package webhook

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers on reg:
//   - wif_webhook_admission_requests_total{outcome} (patched, allowed,
//     skipped, denied, error, invalid),
//   - wif_webhook_admission_duration_seconds,
//   - wif_webhook_cached_service_accounts, if cachedServiceAccounts is not nil.
func NewMetrics(reg prometheus.Registerer, cachedServiceAccounts func() int) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wif_webhook_admission_requests_total",
			Help: "Admission requests handled, by outcome.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wif_webhook_admission_duration_seconds",
			Help:    "Time to answer an admission request.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	for _, o := range []string{outcomePatched, outcomeAllowed, outcomeSkipped, outcomeDenied, outcomeError, outcomeInvalid} {
		m.requests.WithLabelValues(o) // export zeroes so rate() works from the start
	}
	cs := []prometheus.Collector{m.requests, m.latency}
	if cachedServiceAccounts != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wif_webhook_cached_service_accounts",
			Help: "Service accounts held in the informer cache.",
		}, func() float64 { return float64(cachedServiceAccounts()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("webhook: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observe(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(outcome).Inc()
	m.latency.Observe(d.Seconds())
}
