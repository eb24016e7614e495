package arm

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/store"
)

// resourceType is one ARM resource type served by the generic handler:
// GET, PUT, PATCH and DELETE of an item, and the list of a subscription or
// a resource group. W is its wire type (armapi), R its store row. The
// skeleton does what every type does alike (RBAC on the resource's scope,
// strict decoding, ResourceGroupNotFound before ResourceNotFound, 201 on
// create, 204 on deleting nothing, the store's ErrParentNotFound); the
// hooks do what each type does its own way.
//
// A new resource type is its wire type in armapi, its store methods, a
// name rule in path.go's resourceKinds and a registration in NewHandler,
// e.g. for storage accounts:
//
//	h.register(&resourceType[armapi.StorageAccount, store.StorageAccount]{
//		typ:   "Microsoft.Storage/storageAccounts",
//		get:   db.GetStorageAccount,
//		list:  db.ListStorageAccounts,
//		put:   db.PutStorageAccount,
//		del:   db.DeleteStorageAccount,
//		wire:  h.storageAccountJSON,  // store row -> armapi.StorageAccount
//		write: h.writeStorageAccount, // body (+ current row) -> validated row
//		async: true,
//	})
type resourceType[W, R any] struct {
	// typ is the type's namespace/type; the RBAC actions are typ + "/read",
	// "/write" and "/delete".
	typ string

	get  func(ctx context.Context, sub, rg, name string) (R, error)
	list func(ctx context.Context, sub, rg string) ([]R, error)
	put  func(ctx context.Context, row R) (R, bool, error)
	del  func(ctx context.Context, sub, rg, name string) error

	// wire renders a row.
	wire func(R) W
	// write validates and normalises a PUT or PATCH body into the row to
	// store; cur is the stored row, nil when the resource is new (only a
	// PUT: a PATCH of a missing resource is ResourceNotFound before write
	// runs). Its errors are *Error.
	write func(q *request, at target, body W, cur *R) (R, error)

	// async makes a PUT answer with an Azure-AsyncOperation header.
	async bool
	// conflict is the error for the store's ErrConflict (default 409 Conflict).
	conflict func(at target) error
	// child serves the paths below an item (segments 9 and 10), if any.
	child func(q *request, sub store.Subscription) (response, error)

	// Resource groups only: the type is not inside a resource group; HEAD
	// is answered; deleting a missing group is ResourceGroupNotFound and a
	// delete answers 202 with a Location to poll.
	group bool

	h *Handler
}

// target is the resource a request addresses. Group is the resource
// group's stored name (its canonical casing), set for new resources.
type target struct {
	sub      store.Subscription
	rg, name string
	group    string
}

// served is what the router needs of a resource type.
type served interface {
	item(q *request, sub store.Subscription) (response, error)
	collection(q *request, sub store.Subscription) (response, error)
	below(q *request, sub store.Subscription) (response, error)
	exists(ctx context.Context, sub, rg, name string) error
}

// register adds a resource type to the router, under its lower-cased type.
func register[W, R any](h *Handler, t *resourceType[W, R]) {
	t.h = h
	h.types[strings.ToLower(t.typ)] = t
}

func (t *resourceType[W, R]) at(q *request, sub store.Subscription) target {
	if t.group {
		return target{sub: sub, rg: q.id.ResourceGroup, name: q.id.ResourceGroup}
	}
	return target{sub: sub, rg: q.id.ResourceGroup, name: q.id.Name}
}

// notFound is ResourceGroupNotFound when the group is missing, else
// ResourceNotFound.
func (t *resourceType[W, R]) notFound(ctx context.Context, at target) error {
	if t.group {
		return groupNotFound(at.rg)
	}
	if _, err := t.h.db.GetResourceGroup(ctx, at.sub.ID, at.rg); errors.Is(err, store.ErrNotFound) {
		return groupNotFound(at.rg)
	}
	return resourceNotFound(t.typ, at.rg, at.name)
}

func resourceNotFound(typ, rg, name string) error {
	return errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, rg)
}

func (t *resourceType[W, R]) exists(ctx context.Context, sub, rg, name string) error {
	_, err := t.get(ctx, sub, rg, name)
	return err
}

func (t *resourceType[W, R]) below(q *request, sub store.Subscription) (response, error) {
	if t.child == nil {
		return response{}, notFoundPath(q)
	}
	return t.child(q, sub)
}

// item serves GET, PUT, PATCH and DELETE of one resource.
func (t *resourceType[W, R]) item(q *request, sub store.Subscription) (response, error) {
	h, ctx, at := t.h, q.ctx(), t.at(q, sub)
	scope := q.id.scope()
	switch m := q.r.Method; {
	case m == http.MethodGet || (m == http.MethodHead && t.group):
		if err := h.authorize(q, t.typ+"/read", scope); err != nil {
			return response{}, err
		}
		row, err := t.get(ctx, sub.ID, at.rg, at.name)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, t.notFound(ctx, at)
		} else if err != nil {
			return response{}, err
		}
		if m == http.MethodHead {
			return response{status: http.StatusNoContent}, nil
		}
		return ok(t.wire(row))
	case m == http.MethodDelete:
		if err := h.authorize(q, t.typ+"/delete", scope); err != nil {
			return response{}, err
		}
		err := t.del(ctx, sub.ID, at.rg, at.name)
		switch {
		case errors.Is(err, store.ErrNotFound) && t.group:
			return response{}, groupNotFound(at.rg)
		case errors.Is(err, store.ErrNotFound):
			return response{status: http.StatusNoContent}, nil
		case err != nil:
			return response{}, err
		case t.group:
			// Azure deletes groups asynchronously: 202 with a Location to
			// poll. wif has finished already, so the first poll answers 200.
			return response{status: http.StatusAccepted, location: h.operationResultURL(sub.ID)}, nil
		}
		return response{status: http.StatusOK}, nil
	case m == http.MethodPut || m == http.MethodPatch:
	default:
		return response{}, methodNotAllowed(q)
	}
	if err := h.authorize(q, t.typ+"/write", scope); err != nil {
		return response{}, err
	}
	var body W
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	var cur *R
	switch row, err := t.get(ctx, sub.ID, at.rg, at.name); {
	case err == nil:
		cur = &row
	case !errors.Is(err, store.ErrNotFound):
		return response{}, err
	case q.r.Method == http.MethodPatch:
		return response{}, t.notFound(ctx, at)
	case !t.group:
		g, err := h.db.GetResourceGroup(ctx, sub.ID, at.rg)
		if errors.Is(err, store.ErrNotFound) {
			return response{}, groupNotFound(at.rg)
		} else if err != nil {
			return response{}, err
		}
		at.group = g.Name
	}
	row, err := t.write(q, at, body, cur)
	if err != nil {
		return response{}, err
	}
	stored, isNew, err := t.put(ctx, row)
	switch {
	case errors.Is(err, store.ErrParentNotFound):
		return response{}, groupNotFound(at.rg)
	case errors.Is(err, store.ErrConflict) && t.conflict != nil:
		return response{}, t.conflict(at)
	case errors.Is(err, store.ErrConflict):
		return response{}, errf(http.StatusConflict, "Conflict", "The resource '%s/%s' was changed by another request. Retry the request.", t.typ, at.name)
	case err != nil:
		return response{}, err
	}
	resp := response{status: http.StatusOK, body: t.wire(stored)}
	if isNew {
		resp.status = http.StatusCreated
	}
	if t.async {
		resp.asyncOperation = h.operationURL(sub.ID)
	}
	return resp, nil
}

// collection serves the list of a subscription or, when the path names
// one, of a resource group.
func (t *resourceType[W, R]) collection(q *request, sub store.Subscription) (response, error) {
	if q.r.Method != http.MethodGet {
		return response{}, methodNotAllowed(q)
	}
	if err := t.h.authorizeList(q, sub, t.typ+"/read"); err != nil {
		return response{}, err
	}
	rows, err := t.list(q.ctx(), sub.ID, q.id.ResourceGroup)
	if err != nil {
		return response{}, err
	}
	page := armapi.Page[W]{Value: make([]W, 0, len(rows))}
	for _, r := range rows {
		page.Value = append(page.Value, t.wire(r))
	}
	return ok(page)
}

// locationRequired is ARM's answer to a new resource without a location.
func locationRequired() error {
	return errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
}

func groupNotFound(name string) error {
	return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

func methodNotAllowed(q *request) error {
	return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The method '%s' is not allowed on '%s'.", q.r.Method, q.r.URL.Path)
}

// authorizeList checks that the resource group of the path exists (when
// it names one) and that the caller may perform action over it or over
// the subscription.
func (h *Handler) authorizeList(q *request, sub store.Subscription, action string) error {
	if rg := q.id.ResourceGroup; rg != "" {
		if _, err := h.db.GetResourceGroup(q.ctx(), sub.ID, rg); errors.Is(err, store.ErrNotFound) {
			return groupNotFound(rg)
		} else if err != nil {
			return err
		}
	}
	return h.authorize(q, action, q.id.scope())
}

func tagsOrEmpty(t map[string]string) map[string]string {
	if t == nil {
		return map[string]string{}
	}
	return t
}
