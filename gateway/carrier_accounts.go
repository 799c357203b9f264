package gateway

import (
	"net/http"
	"time"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
)

// accountView is a carrier account as the API shows it: secrets are write-only, so only whether
// each is set is shown.
type accountView struct {
	ID                         string    `json:"id"`
	Provider                   string    `json:"provider"`
	Label                      string    `json:"label"`
	AccountSID                 *string   `json:"account_sid"`
	HasAuthToken               bool      `json:"has_auth_token"`
	HasAPIKey                  bool      `json:"has_api_key"`
	HasPublicKey               bool      `json:"has_public_key"`
	BaseURL                    *string   `json:"base_url"`
	SendsOwnOptOutConfirmation bool      `json:"sends_own_opt_out_confirmation"`
	CreatedAt                  time.Time `json:"created_at"`
	UpdatedAt                  time.Time `json:"updated_at"`
}

func viewAccount(a numbers.Account) accountView {
	return accountView{
		ID: a.ID, Provider: string(a.Provider), Label: a.Label, AccountSID: nonEmpty(a.AccountSID),
		HasAuthToken: a.AuthToken != "", HasAPIKey: a.APIKey != "", HasPublicKey: a.PublicKey != "",
		BaseURL: nonEmpty(a.BaseURL), SendsOwnOptOutConfirmation: a.SendsOwnOptOutConfirmation,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) createCarrierAccount(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Provider                   string `json:"provider"`
		Label                      string `json:"label"`
		AccountSID                 string `json:"account_sid"`
		AuthToken                  string `json:"auth_token"`
		APIKey                     string `json:"api_key"`
		PublicKey                  string `json:"public_key"`
		BaseURL                    string `json:"base_url"`
		SendsOwnOptOutConfirmation *bool  `json:"sends_own_opt_out_confirmation"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.deps.Numbers.CreateAccount(r.Context(), p.TenantID, numbers.NewAccount{
		Provider: numbers.Provider(in.Provider), Label: in.Label, AccountSID: in.AccountSID, AuthToken: in.AuthToken,
		APIKey: in.APIKey, PublicKey: in.PublicKey, BaseURL: in.BaseURL, SendsOwnOptOutConfirmation: in.SendsOwnOptOutConfirmation,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewAccount(a))
}

func (s *Server) listCarrierAccounts(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	pager, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pager.Cursor != "" && !validID(pager.Cursor) {
		s.writeError(w, r, apperr.Invalid("cursor", "invalid_cursor", "cursor must be a next_cursor from a previous page"))
		return
	}
	accounts, err := s.deps.Numbers.FindAccounts(r.Context(), p.TenantID, numbers.AccountFilter{Limit: pager.Limit, Cursor: pager.Cursor})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views := make([]accountView, len(accounts))
	for i, a := range accounts {
		views[i] = viewAccount(a)
	}
	writeJSON(w, http.StatusOK, newList(views, pager.Limit, func(a accountView) string { return a.ID }))
}

func (s *Server) getCarrierAccount(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "carrier account")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.deps.Numbers.GetAccount(r.Context(), p.TenantID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAccount(a))
}

func (s *Server) updateCarrierAccount(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "carrier account")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Provider                   *string `json:"provider"`
		AccountSID                 *string `json:"account_sid"`
		Label                      *string `json:"label"`
		AuthToken                  *string `json:"auth_token"`
		APIKey                     *string `json:"api_key"`
		PublicKey                  *string `json:"public_key"`
		BaseURL                    *string `json:"base_url"`
		SendsOwnOptOutConfirmation *bool   `json:"sends_own_opt_out_confirmation"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Provider != nil || in.AccountSID != nil {
		field := "provider"
		if in.Provider == nil {
			field = "account_sid"
		}
		s.writeError(w, r, apperr.Invalid(field, "immutable_field", "provider and account_sid cannot change; register another carrier account"))
		return
	}
	a, err := s.deps.Numbers.UpdateAccount(r.Context(), p.TenantID, id, numbers.AccountUpdate{
		Label: in.Label, AuthToken: in.AuthToken, APIKey: in.APIKey, PublicKey: in.PublicKey, BaseURL: in.BaseURL,
		SendsOwnOptOutConfirmation: in.SendsOwnOptOutConfirmation,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAccount(a))
}

func (s *Server) deleteCarrierAccount(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := requireRole(p, directory.RoleAdmin); err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := pathID(r, "id", "carrier account")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Numbers.DeleteAccount(r.Context(), p.TenantID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
