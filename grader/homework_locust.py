"""The kit's own locustfile for homework Q6: requests of 64 applications to /classify_batch."""

from locust import HttpUser, constant, task

from bentokit import contract

BATCH = 64


class BatchUser(HttpUser):
    wait_time = constant(0)

    @task
    def classify_batch(self) -> None:
        body = contract.wrap_batch([contract.SAMPLE_APPLICANT] * BATCH)
        self.client.post(contract.CLASSIFY_BATCH_PATH, json=body)
