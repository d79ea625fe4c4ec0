"""A bounded load test of the credit-risk service: YOUR copy. Fill in the TODO, then grade it from the
repository root with `./kit learn check loadtest`. Run it yourself (with the service running):

    locust -f locustfile.py --headless --host http://localhost:3000 --users 10 --spawn-rate 10 --run-time 20s

``--run-time`` bounds the run; without it a headless locust runs until stopped.
"""

from locust import HttpUser, constant, task

APPLICANT = {
    "seniority": 3, "home": "owner", "time": 36, "age": 26, "marital": "single", "records": "no",
    "job": "freelance", "expenses": 35, "income": 0.0, "assets": 60000.0, "debt": 3000.0,
    "amount": 800, "price": 1000,
}


class ClassifyUser(HttpUser):
    """Sends one application per request to /classify, with no pause between requests."""

    wait_time = constant(0)

    @task
    def classify(self) -> None:
        # TODO(1): POST APPLICANT to /classify with self.client (locust's HTTP session: it times each
        #          request and counts failures), wrapped under "credit_application".
        #          Notebook 07_performance.ipynb, section "A bounded locust run".
        raise NotImplementedError("TODO(1): send one request to /classify")
