package web

import (
	"net/http"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// fairReportView is the data of /gestione/statistiche/anomalie.
type fairReportView struct {
	adminBase
	Since    string
	Shared   []booking.SharedContact
	Bursts   []fairBurstRow
	Mismatch []fairMismatchRow
	// Services names the services by ID.
	Services map[string]string
}

type fairBurstRow struct {
	Net, Hour string
	Bookings  int
}

type fairMismatchRow struct {
	booking.NameMismatch
	Service, Created string
}

// adminFairReport answers GET /gestione/statistiche/anomalie: the
// suspicious patterns of the last 30 days (booking.FairReport). It flags,
// it does not judge: the page says so, and shows codici fiscali and
// contacts to the Comune's administrators only.
func (h *Handler) adminFairReport(w http.ResponseWriter, r *http.Request, a adminReq) {
	ctx := r.Context()
	rep, err := h.book.FairReport(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	cfg, err := h.book.Configuration(ctx, a.t.ID)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	names := map[string]string{}
	for _, o := range cfg.Offices {
		for _, s := range o.Services {
			names[s.ID] = s.Name
		}
	}
	loc := a.t.Location()
	v := fairReportView{adminBase: h.newAdminBase(r, a), Since: site.FormatDate("it", rep.Since.In(loc)), Shared: rep.Shared, Services: names}
	for _, b := range rep.Bursts {
		v.Bursts = append(v.Bursts, fairBurstRow{Net: b.Net, Hour: site.FormatDateTime("it", b.Hour.In(loc)), Bookings: b.Bookings})
	}
	for _, m := range rep.Mismatch {
		svc := names[m.ServiceID]
		if svc == "" {
			svc = m.ServiceID
		}
		v.Mismatch = append(v.Mismatch, fairMismatchRow{NameMismatch: m, Service: svc, Created: site.FormatDateTime("it", m.Created.In(loc))})
	}
	h.adminRender(w, r, http.StatusOK, "gestione_anomalie.html", "Prenotazioni sospette",
		adminCrumbs(site.Crumb{Label: "Statistiche", URL: "/gestione/statistiche"}, site.Crumb{Label: "Prenotazioni sospette"}), v)
}
