"""The kit's own locustfile for homework Q6: requests of 256 applications to /classify_batch.

Large batches make the model's own cost dominate each request, so the two models differ clearly.
"""

from locust import HttpUser, constant, task

from bentokit import contract

BATCH = 256


class BatchUser(HttpUser):
    wait_time = constant(0)

    @task
    def classify_batch(self) -> None:
        body = contract.wrap_batch([contract.SAMPLE_APPLICANT] * BATCH)
        self.client.post(contract.CLASSIFY_BATCH_PATH, json=body)
