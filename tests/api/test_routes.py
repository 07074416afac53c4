from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.api.conftest import Deployment

ENTRY_FIELDS = {"id", "prompt", "response", "attributes", "similarity", "searchStrategy"}


def store(d: Deployment, prompt: str, **body: object) -> str:
    response = d.client.post(
        d.url("/entries"),
        json={"prompt": prompt, "response": f"about {prompt}", **body},
        headers=d.headers(),
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["entryId"]


def search(d: Deployment, body: Mapping[str, object], path: str = "/entries/search") -> dict:
    response = d.client.post(d.url(path), json=body, headers=d.headers())
    assert response.status_code == 200, response.text
    return response.json()


def test_set_answers_201_with_the_md5_entry_id(deployment: Deployment) -> None:
    assert store(deployment, "hello world") == "5eb63bbbe01eeed093cb22bb8f5acdc3"


def test_search_hit_carries_every_field(deployment: Deployment) -> None:
    entry_id = store(deployment, "What is semantic caching?", attributes={"lang": "en"})
    [hit] = search(deployment, {"prompt": "what is semantic caching?"})["data"]
    assert set(hit) == ENTRY_FIELDS
    assert hit == {
        "id": entry_id,
        "prompt": "What is semantic caching?",
        "response": "about What is semantic caching?",
        "attributes": {"lang": "en"},
        "similarity": 1.0,
        "searchStrategy": "semantic",
    }


def test_a_miss_is_200_with_empty_data(deployment: Deployment) -> None:
    assert search(deployment, {"prompt": "nothing stored"}) == {"data": []}


def test_strategies_and_max_results(deployment: Deployment) -> None:
    store(deployment, "sky")
    store(deployment, "sky~1")
    body = {
        "prompt": "SKY",
        "searchStrategies": ["exact", "semantic"],
        "maxResults": 2,
        "similarityThreshold": 0.5,
    }
    hits = search(deployment, body)["data"]
    assert [(h["prompt"], h["searchStrategy"]) for h in hits] == [
        ("sky", "exact"),
        ("sky~1", "semantic"),
    ]


def test_conversational_search_returns_the_actual_prompt(deployment: Deployment) -> None:
    store(deployment, "Where is Paris?")
    body = {"prompt": "Where is Paris?", "context": ["Tell me about France"]}
    answer = search(deployment, body, "/conversations/search")
    assert answer["actualPrompt"] == "Where is Paris?"
    assert [hit["prompt"] for hit in answer["data"]] == ["Where is Paris?"]


def test_delete_by_id_answers_204_then_404(deployment: Deployment) -> None:
    entry_id = store(deployment, "to delete")
    first = deployment.client.delete(
        deployment.url(f"/entries/{entry_id}"), headers=deployment.headers()
    )
    assert (first.status_code, first.content) == (204, b"")
    again = deployment.client.delete(
        deployment.url(f"/entries/{entry_id}"), headers=deployment.headers()
    )
    assert again.status_code == 404


def test_delete_by_attributes_counts(deployment: Deployment) -> None:
    store(deployment, "a", attributes={"topic": "x"})
    store(deployment, "b", attributes={"topic": "x", "lang": "en"})
    store(deployment, "c", attributes={"topic": "y"})
    response = deployment.client.request(
        "DELETE",
        deployment.url("/entries"),
        json={"attributes": {"topic": "x"}},
        headers=deployment.headers(),
    )
    assert response.status_code == 200
    assert response.json() == {"deletedEntriesCount": 2}


def test_flush_takes_no_body_and_answers_204(deployment: Deployment) -> None:
    store(deployment, "flushed")
    response = deployment.client.post(deployment.url("/flush"), headers=deployment.headers())
    assert (response.status_code, response.content) == (204, b"")
    assert search(deployment, {"prompt": "flushed"}) == {"data": []}


def test_json_is_read_whatever_the_content_type(deployment: Deployment) -> None:
    # curl -d sends application/x-www-form-urlencoded; the LangCache examples rely on it.
    response = deployment.client.post(
        deployment.url("/entries/search"),
        content=b'{ "prompt": "What is semantic caching" }',
        headers={**deployment.headers(), "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


def test_unknown_fields_are_ignored_and_nulls_mean_absent(deployment: Deployment) -> None:
    store(deployment, "q", ttlMillis=None, attributes=None, future="x")
    body = {"prompt": "q", "similarityThreshold": None, "searchStrategies": None, "x": 1}
    assert len(search(deployment, body)["data"]) == 1


def test_health(deployment: Deployment) -> None:
    assert deployment.client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_wrong_methods_are_405(deployment: Deployment, method: str) -> None:
    response = deployment.client.request(
        method, deployment.url("/entries"), headers=deployment.headers()
    )
    assert response.status_code == 405
    assert response.json()["status"] == 405
