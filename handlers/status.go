package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"simpleapi/respond"
	"simpleapi/store"
)

type statusJSON struct {
	Status string `json:"status"`
}

var statusOK = statusJSON{Status: "OK"}

func handleStatus(c *gin.Context) {
	respond.JSON(c, http.StatusOK, statusOK)
}

func handleStats(users store.UserStore) gin.HandlerFunc {
	type statsJSON struct {
		Users int `json:"users"`
	}
	return func(c *gin.Context) {
		n, err := users.CountUsers(c.Request.Context())
		if err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, statsJSON{Users: n})
	}
}

func handleUnauthorized(c *gin.Context) {
	respond.Fail(c, store.EUNAUTHORIZED, respond.MsgUnauthorized)
}

func handleForbidden(c *gin.Context) {
	respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
}

// handleHealthz answers while the process is alive.
func handleHealthz(c *gin.Context) {
	respond.JSON(c, http.StatusOK, statusOK)
}

// handleReadyz answers 200 while every store answers (and the users store
// accepts writes), 503 otherwise, naming nothing.
func handleReadyz(ready func(context.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := ready(c.Request.Context()); err != nil {
			respond.Fail(c, store.EUNAVAILABLE, respond.MsgUnavailable)
			return
		}
		respond.JSON(c, http.StatusOK, statusOK)
	}
}
