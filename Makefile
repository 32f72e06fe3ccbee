# Entry points. Quick start: `make run` (main job), `make test` (whole suite). `make ui` for the UIs.
.PHONY: run test test-fast ui bench clean usecase
SHELL := /bin/bash

run:   ## Replay a window of real data through the pipelines (START=YYYY-MM-DD DAYS=N MLOPS_ENV=dev)
	@bash scripts/run.sh

test:  ## Lint, format check and the whole test suite (extra pytest args: ARGS="-k lakehouse")
	@bash scripts/test.sh $(ARGS)

test-fast: ## The inner loop: lint and the tests not marked slow, integration or topology (ARGS as for test)
	@bash scripts/test.sh -m "not slow and not integration and not topology" $(ARGS)

ui:    ## Airflow (standalone) and MLflow UIs on localhost:8080 and :5000
	@bash scripts/ui.sh

bench: ## Benchmarks (print figures; not tests)
	@bash -c 'source scripts/bootstrap.sh && source scripts/env.sh && for b in benchmarks/bench_*.py; do python -m "benchmarks.$$(basename "$$b" .py)"; done'

clean: ## Remove local state (tables, landing zone, MLflow and Airflow databases); keeps .venv
	rm -rf .mlops

usecase: ## Scaffold a use case from templates/usecase: usecases/$(NAME)/, registered (not enabled) in include/config
	@bash -c 'source scripts/bootstrap.sh && source scripts/env.sh && python -m scripts.new_usecase "$(NAME)"'
